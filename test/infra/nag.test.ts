/**
 * cdk-nag: the app is synthesized with `AwsSolutionsChecks` on, exactly as `cdk synth` and `cdk deploy` run it
 * (infra/app.ts `buildApp`). cdk-nag 3 is a CDK policy-validation plugin: its findings are not annotations
 * but violations in the cloud assembly's validation report, and any that is not acknowledged fails the synth.
 *
 * These tests assert that nothing is left unacknowledged (errors and warnings alike), list every
 * acknowledgment with its reason, and pin that list, so a new acknowledgment is a reviewed change here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Validations } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { VALIDATION_REPORT_FILE } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/app.ts';
import type { GatewayStack } from '../../infra/gateway-stack.ts';
import { logicalIdOf, NO_BUNDLING, removeOutdirs, tempDir } from './support/synth.ts';

afterAll(removeOutdirs);

interface Violation {
  ruleName: string;
  description: string;
  severity: string;
  violatingConstructs: { constructPath: string }[];
}
interface SuppressedViolation extends Violation {
  acknowledgedId: string;
  reason: string;
  acknowledgedAt: string;
}
interface PluginReport {
  pluginName: string;
  conclusion: string;
  violations: Violation[];
  suppressedViolations?: SuppressedViolation[];
}

/** Builds and synthesizes the app (the checks run in `synth`), and reads the AwsSolutions plugin's report. */
function synthesize(context: Record<string, unknown> = {}): { stack: GatewayStack; report: PluginReport; outdir: string } {
  const outdir = tempDir();
  const { app, stack } = buildApp({ outdir, context: { ...NO_BUNDLING, ...context } });
  app.synth();
  const file = JSON.parse(readFileSync(join(outdir, VALIDATION_REPORT_FILE), 'utf8')) as { pluginReports: PluginReport[] };
  const reports = file.pluginReports.filter((r) => r.pluginName === 'AwsSolutions');
  expect(reports).toHaveLength(1);
  return { stack, report: reports[0]!, outdir };
}

/** One line per acknowledged finding: rule (with its granular finding) on a resource. */
interface Acknowledged {
  rule: string;
  resource: string;
  reason: string;
  at: string;
}
const acknowledgedIn = (report: PluginReport): Acknowledged[] =>
  (report.suppressedViolations ?? []).flatMap((v) =>
    v.violatingConstructs.map((c) => ({ rule: v.ruleName, resource: c.constructPath, reason: v.reason, at: v.acknowledgedAt })),
  );

/** Every acknowledgment recorded in the construct tree (`Validations.acknowledge`), used or not. */
function recordedAcknowledgments(root: IConstruct): { id: string; at: string; reason: string }[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) => Object.entries(entry.data as Record<string, string>))
      .map(([id, reason]) => ({ id, at: construct.node.path, reason })),
  );
}

/** Resource paths, without the stack's name and the gateway's id (`Default`), as they are listed below. */
const short = (path: string) => path.replace(/^LumaVideoGateway\/Default\//, '');

describe('cdk-nag AwsSolutionsChecks on the default app', () => {
  let stack: GatewayStack;
  let report: PluginReport;
  let acknowledged: Acknowledged[];

  beforeAll(() => {
    ({ stack, report } = synthesize());
    acknowledged = acknowledgedIn(report);
    // The list to quote: every acknowledged finding, its resource and the reason given in the code.
    const lines = acknowledged.map((a) => `  ${a.rule}\n      on ${short(a.resource)}\n      because ${a.reason}`);
    console.log(`cdk-nag AwsSolutions: ${report.violations.length} unacknowledged, ${acknowledged.length} acknowledged:\n${lines.join('\n')}`);
  }, 120_000);

  it('synthesizes with zero unacknowledged findings, errors and warnings alike', () => {
    expect(report.violations.map((v) => `${v.severity} ${v.ruleName} on ${v.violatingConstructs.map((c) => c.constructPath).join(', ')}`)).toEqual([]);
    expect(report.conclusion).toBe('success');
  });

  it('leaves no error or warning annotation on the stack (CDK’s own, or AwsSolutions ones)', () => {
    const annotations = Annotations.fromStack(stack);
    expect(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
    expect(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
    expect(annotations.findError('*', Match.anyValue())).toEqual([]);
    expect(annotations.findWarning('*', Match.anyValue())).toEqual([]);
  });

  it('acknowledges exactly these findings (a new one must be added here, with its reason in the code)', () => {
    const X_RAY = 'AwsSolutions-IAM5[Resource::*]';
    const table = acknowledged.map((a) => `${a.rule} on ${short(a.resource)}`).sort();
    expect(table).toEqual(
      [
        'AwsSolutions-SMG4 on UpstreamKey/Resource',
        // No API Gateway authorizer (the function checks the key), no request model (the function's schema).
        'AwsSolutions-APIG2 on Api/RestApi/Resource',
        ...['Api/RestApi/Default/ANY/Resource', 'Api/RestApi/Default/{proxy+}/ANY/Resource'].flatMap((method) => [
          `AwsSolutions-APIG4 on ${method}`,
          `AwsSolutions-COG4 on ${method}`,
        ]),
        // API Gateway's logging role for the account and region: any log group of theirs.
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:*] on Api/ApiGatewayCloudWatchRole/Resource',
        // X-Ray tracing (and, for the state machine, log delivery): actions without resource types.
        ...['Api/ApiFunctionRole', 'Workflow/PollFunctionRole', 'Workflow/CopyFunctionRole', 'Workflow/RecordFailureFunctionRole', 'Workflow/ReconcileFunctionRole', 'Workflow/StateMachine/Role', 'Events/DeliverWebhookFunctionRole', 'Events/DeliveryStateMachine/Role'].map(
          (role) => `${X_RAY} on ${role}/DefaultPolicy/Resource`,
        ),
        // Object prefixes.
        `AwsSolutions-IAM5[Resource::<${bucketId(stack)}.Arn>/inputs/*] on Api/ApiFunctionRole/DefaultPolicy/Resource`,
        `AwsSolutions-IAM5[Resource::<${bucketId(stack)}.Arn>/generations/*] on Api/ApiFunctionRole/DefaultPolicy/Resource`,
        `AwsSolutions-IAM5[Resource::<${bucketId(stack)}.Arn>/inputs/*] on Workflow/PollFunctionRole/DefaultPolicy/Resource`,
        `AwsSolutions-IAM5[Resource::<${bucketId(stack)}.Arn>/generations/*] on Workflow/CopyFunctionRole/DefaultPolicy/Resource`,
        `AwsSolutions-IAM5[Resource::<${bucketId(stack)}.Arn>/generations/*] on Events/DeliverWebhookFunctionRole/DefaultPolicy/Resource`,
        // The qualified ARNs of the deliver function, which the delivery workflow invokes.
        `AwsSolutions-IAM5[Resource::<${logicalIdOf(stack, stack.gateway.functions.deliverWebhook)}.Arn>:*] on Events/DeliveryStateMachine/Role/DefaultPolicy/Resource`,
        // Qualified ARNs of the three functions the state machine invokes.
        ...[stack.gateway.functions.poll, stack.gateway.functions.copy, stack.gateway.functions.recordFailure].map(
          (fn) => `AwsSolutions-IAM5[Resource::<${logicalIdOf(stack, fn)}.Arn>:*] on Workflow/StateMachine/Role/DefaultPolicy/Resource`,
        ),
        // The executions of this state machine, for the reconciler's DescribeExecution and a cancel's StopExecution.
        ...['Workflow/ReconcileFunctionRole', 'Api/ApiFunctionRole'].map(
          (role) =>
            `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${logicalIdOf(stack, stack.gateway.stateMachine)}"}]}]}:*] on ${role}/DefaultPolicy/Resource`,
        ),
      ].sort(),
    );
  });

  it('every IAM5 (wildcard) acknowledgment names the exact wildcard, never the whole rule; nothing is acknowledged stack-wide', () => {
    for (const a of acknowledged) {
      if (a.rule.startsWith('AwsSolutions-IAM5')) expect(a.rule).toMatch(/^AwsSolutions-IAM5\[Resource::.+\]$/);
      expect(a.at, a.rule).not.toBe('LumaVideoGateway');
      expect(a.at, a.rule).not.toBe('LumaVideoGateway/Default');
      expect(a.at, a.rule).not.toBe('');
    }
    for (const recorded of recordedAcknowledgments(stack)) expect(recorded.id).not.toMatch(/^AwsSolutions::AwsSolutions-IAM5$/);
  });

  it('every acknowledgment has a specific reason', () => {
    for (const a of acknowledged) {
      expect(a.reason.length, a.rule).toBeGreaterThanOrEqual(60);
      expect(a.reason, a.rule).not.toMatch(/^(n\/a|todo|ok|fine|not needed|not required)\b/i);
    }
  });

  it('every acknowledgment recorded in the code is used (no stale ones), and is in the report', () => {
    const used = new Set(acknowledged.map((a) => `${a.at} ${a.rule}`));
    const recorded = recordedAcknowledgments(stack);
    // One per acknowledge call and finding: the 26 acknowledged findings above, less the second method of APIG4 and COG4 each.
    expect(recorded).toHaveLength(24);
    // Each acknowledgment in the report comes from one recorded in the code, at the same place.
    expect([...new Set(recorded.map((r) => `${r.at} ${r.id.replace(/^AwsSolutions::/, '')}`))].sort()).toEqual([...used].sort());
    for (const r of recorded) {
      expect(r.id, `${r.at}: ${r.id}`).toMatch(/^AwsSolutions::AwsSolutions-/); // namespaced: reported, not silently skipped
      expect(used.has(`${r.at} ${r.id.replace(/^AwsSolutions::/, '')}`), `${r.at}: ${r.id}`).toBe(true);
    }
  });

  it('what the rules find without the acknowledgments is exactly what is acknowledged', () => {
    // A fresh pack sees every finding (it honours only acknowledgments in its own, unnamespaced form, of
    // which there are none): the acknowledged list above is complete, and nothing was fixed by hiding it.
    const raw = new AwsSolutionsChecks().validateScope(stack);
    const found = raw.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} on ${short(r.constructPath ?? '')}`)).sort();
    expect(found).toEqual(acknowledged.map((a) => `${a.rule} on ${short(a.resource)}`).sort());
  });

  it.each([
    ['AwsSolutions-S1', 'server access logs of the video bucket (to a dedicated access-log bucket)'],
    ['AwsSolutions-L1', 'the latest Node.js runtime'],
    ['AwsSolutions-SF1', 'state machine logging of ALL events'],
    ['AwsSolutions-IAM4', 'no AWS managed policy (no S3 notifications custom resource; API Gateway’s logging role has an inline policy)'],
    ['AwsSolutions-SF2', 'X-Ray tracing of the state machine'],
    ['AwsSolutions-DDB3', 'point-in-time recovery'],
    ['AwsSolutions-S10', 'TLS-only bucket policies'],
    ['AwsSolutions-APIG1', 'API access logging'],
    ['AwsSolutions-APIG3', 'an AWS WAF web ACL on the stage'],
    ['AwsSolutions-APIG6', 'execution logging (errors only) on every method of the stage'],
  ])('%s is satisfied, not acknowledged: %s', (rule) => {
    expect(acknowledged.filter((a) => a.rule === rule || a.rule.startsWith(`${rule}[`))).toEqual([]);
  });
});

describe('cdk-nag AwsSolutionsChecks, other builds', () => {
  it(
    'with an existing secret (`upstreamKeySecretArn`), nothing is acknowledged for it and nothing is left',
    () => {
      const { report } = synthesize({ upstreamKeySecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:luma-api-key-AbCdEf' });
      expect(report.violations).toEqual([]);
      expect(acknowledgedIn(report).filter((a) => a.rule === 'AwsSolutions-SMG4')).toEqual([]);
    },
    60_000,
  );

  it(
    'a finding that is neither fixed nor acknowledged fails the synth, naming the rule and the resource',
    () => {
      const { app, stack } = buildApp({ outdir: tempDir(), context: NO_BUNDLING });
      new Bucket(stack, 'UnloggedBucket', { enforceSSL: true }); // no server access logs: AwsSolutions-S1
      let message = '';
      try {
        app.synth();
      } catch (error) {
        message = String((error as Error).message);
      }
      expect(message).toContain('AwsSolutions-S1');
      expect(message).toContain('LumaVideoGateway/UnloggedBucket/Resource');
      expect(message).not.toContain('LumaVideoGateway/Default/Storage'); // only the new bucket is reported
    },
    60_000,
  );

  it(
    'with `nag: false`, the checks do not run (for the local runtime, should it want the time)',
    () => {
      const outdir = tempDir();
      const { app, stack } = buildApp({ outdir, context: NO_BUNDLING, nag: false });
      new Bucket(stack, 'UnloggedBucket', { enforceSSL: true });
      expect(() => app.synth()).not.toThrow();
    },
    60_000,
  );
});

function bucketId(stack: GatewayStack): string {
  return logicalIdOf(stack, stack.gateway.bucket);
}
