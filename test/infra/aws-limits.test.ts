/**
 * What AWS enforces that the local emulators do not: the synthesized template must respect it.
 * - A Wait state waits whole seconds: the poll interval is a whole number of seconds, 1 to 3600.
 * - Retry what AWS says to retry: the invoke's own failures, a poll whose fate is unknown, throttling of the
 *   gateway's AWS services (TransientAwsError), and Lambda throttling on a schedule measured in minutes.
 * - Secrets: a partial secret ARN is granted with Secrets Manager's 6-character suffix; a customer KMS key is
 *   granted for decryption through Secrets Manager only; a new secret holds a JSON placeholder.
 */
import type { CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayStack } from '../../infra/gateway-stack.ts';
import { TransientAwsError, TransientDownloadError, TransientUpstreamError } from '../../functions/commons/errors.ts';
import { UPSTREAM_KEY_PLACEHOLDER_SECRET } from '../../functions/commons/domain/upstream-key.ts';
import { removeOutdirs, synthesize } from './support/synth.ts';
import { render, retryDelaySeconds, type Json } from './support/template.ts';

afterAll(removeOutdirs);

/** The template is all these checks need: the app is built without bundling, and here without cdk-nag unless asked. */
const build = (context: Record<string, unknown> = {}, { nag = false } = {}) => synthesize(context, { nag });

describe('pollIntervalSeconds: whole seconds, as a Wait state waits', () => {
  it.each(['1.5', '0.5', '0', '3601'])('%s fails the synth, naming the setting', (value) => {
    expect(() => build({ pollIntervalSeconds: value })).toThrow(/pollIntervalSeconds.*whole number of seconds from 1 to 3600/);
  });

  it('a whole number reaches the poll function', () => {
    const { stack, template } = build({ pollIntervalSeconds: '7' });
    const poll = template.toJSON().Resources[stack.getLogicalId(stack.gateway.functions.poll.node.defaultChild as never)];
    expect(poll.Properties.Environment.Variables.POLL_INTERVAL_SECONDS).toBe('7');
  });
});

describe('Retry blocks', () => {
  let stack: GatewayStack;
  let definition: Json;
  const retriers = (state: string): Json[] => definition.States[state].Retry ?? [];
  const retried = (state: string): string[] => retriers(state).flatMap((r) => r.ErrorEquals);
  const retrierOf = (state: string, error: string): Json => retriers(state).find((r) => r.ErrorEquals.includes(error));
  const functionTimeout = (fn: 'copyFunction' | 'pollFunction') =>
    stack.resolve((stack.gateway.workflow[fn].node.defaultChild as Json).timeout) as number;

  beforeAll(() => {
    let template: Template;
    ({ stack, template } = build());
    const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    definition = JSON.parse(render(machines[0]!.Properties.DefinitionString));
  });

  it('Poll retries the gateway’s own transient errors, by the classes’ names, with capped backoff and full jitter', () => {
    const retrier = retrierOf('Wait for the generation', TransientUpstreamError.name);
    expect(retrier.ErrorEquals).toEqual([TransientUpstreamError.name, TransientAwsError.name]);
    expect(retrier).toMatchObject({ BackoffRate: 2, JitterStrategy: 'FULL', MaxDelaySeconds: 60 });
  });

  it('Copy retries a cut download and a throttled AWS service, from scratch, a bounded number of times', () => {
    const retrier = retrierOf('Copy', TransientDownloadError.name);
    expect(retrier.ErrorEquals).toEqual([TransientDownloadError.name, TransientAwsError.name]);
    expect(retrier).toMatchObject({ MaxAttempts: 3, JitterStrategy: 'FULL' });
  });

  it.each(['Wait for the generation', 'Copy'])('%s retries the invoke’s own failures (AWS’s list)', (state) => {
    expect(retried(state)).toEqual(
      expect.arrayContaining(['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException']),
    );
  });

  it('Poll, safe to repeat, also retries an invocation whose fate is unknown: its own timeout, a client timeout, a crash', () => {
    expect(retried('Wait for the generation')).toEqual(expect.arrayContaining(['Sandbox.Timedout', 'Lambda.ClientExecutionTimeoutException', 'Lambda.Unknown']));
  });

  it('Copy does not retry its own timeout: it budgets its downloads from the time it has left instead', () => {
    expect(retried('Copy')).not.toContain('Sandbox.Timedout');
  });

  it.each(['Wait for the generation', 'Copy', 'Record failure'])('%s waits out Lambda throttling on a schedule of minutes, in a retrier of its own', (state) => {
    const retrier = retrierOf(state, 'Lambda.TooManyRequestsException');
    expect(retrier).toEqual({
      ErrorEquals: ['Lambda.TooManyRequestsException'],
      IntervalSeconds: 60,
      BackoffRate: 2,
      MaxDelaySeconds: 600,
      MaxAttempts: 6,
      JitterStrategy: 'FULL',
    });
  });

  it('"Record failure" meets throttling before its catch-all retrier (the first match wins; States.ALL must be last)', () => {
    const names = retriers('Record failure').map((r) => r.ErrorEquals.join());
    expect(names).toEqual(['Lambda.TooManyRequestsException', 'States.ALL']);
  });

  it.each(['Wait for the generation', 'Copy', 'Record failure'])('%s names every error in one retrier at most (a second would never run)', (state) => {
    const names = retried(state);
    expect(new Set(names).size).toBe(names.length);
  });

  it('the execution timeout leaves room for a Copy that starts at the deadline, with its retries and a throttled stretch', () => {
    const copy = retrierOf('Copy', TransientDownloadError.name);
    const throttled = retrierOf('Copy', 'Lambda.TooManyRequestsException');
    const worst = (copy.MaxAttempts + 1) * functionTimeout('copyFunction') + retryDelaySeconds(copy) + retryDelaySeconds(throttled);
    expect(definition.TimeoutSeconds - 30 * 60).toBeGreaterThanOrEqual(worst);
  });
});

describe('the upstream key secret', () => {
  const PARTIAL = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:luma/api-key';
  const COMPLETE = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:luma/api-key-AbC123';
  const KMS_KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

  /** Every (role logical id, statement) of the template's IAM policies. */
  function statements(template: Template): { role: string; statement: Json }[] {
    return Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) =>
      (policy.Properties.PolicyDocument.Statement as Json[]).flatMap((statement) =>
        (policy.Properties.Roles as Json[]).map((role) => ({ role: role.Ref as string, statement })),
      ),
    );
  }
  const actionsOf = (statement: Json): string[] => [statement.Action].flat();
  const roleOf = (stack: GatewayStack, fn: IConstruct & { role?: IConstruct }) =>
    stack.getLogicalId(fn.role!.node.defaultChild as CfnElement);

  it('a new secret holds the JSON placeholder, never random text that could read as broken JSON', () => {
    const { template } = build();
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      SecretString: UPSTREAM_KEY_PLACEHOLDER_SECRET,
      GenerateSecretString: Match.absent(),
    });
    expect(JSON.parse(UPSTREAM_KEY_PLACEHOLDER_SECRET)).toEqual({ apiKey: 'REPLACE_ME' });
  });

  it('a partial ARN (no 6-character suffix) is granted with the suffix Secrets Manager adds, and passed on as given', () => {
    const { stack, template } = build({ upstreamKeySecretArn: PARTIAL });
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    const reads = statements(template).filter(({ statement }) => actionsOf(statement).includes('secretsmanager:GetSecretValue'));
    expect(reads.map(({ statement }) => statement.Resource)).toEqual([`${PARTIAL}-??????`, `${PARTIAL}-??????`]);
    expect(reads.map(({ role }) => role).sort()).toEqual([roleOf(stack, stack.gateway.functions.api), roleOf(stack, stack.gateway.functions.poll)].sort());
    const env = template.toJSON().Resources[stack.getLogicalId(stack.gateway.functions.poll.node.defaultChild as CfnElement)].Properties.Environment.Variables;
    expect(env.LUMA_API_KEY_SECRET_ARN).toBe(PARTIAL);
  });

  it('a complete ARN is granted exactly', () => {
    const { template } = build({ upstreamKeySecretArn: COMPLETE });
    const reads = statements(template).filter(({ statement }) => actionsOf(statement).includes('secretsmanager:GetSecretValue'));
    expect(reads.map(({ statement }) => statement.Resource)).toEqual([COMPLETE, COMPLETE]);
  });

  it.each(['luma/api-key', 'arn:aws:s3:::bucket', 'arn:aws:secretsmanager:eu-west-1:123456789012:luma'])(
    'an upstreamKeySecretArn that is no secret ARN (%s) fails the synth',
    (value) => {
      expect(() => build({ upstreamKeySecretArn: value })).toThrow(/upstreamKeySecretArn/);
    },
  );

  it('upstreamKeySecretKmsKeyArn grants kms:Decrypt on that key, through Secrets Manager only, to the functions that read the secret', () => {
    const { stack, template } = build({ upstreamKeySecretArn: PARTIAL, upstreamKeySecretKmsKeyArn: KMS_KEY });
    const decrypts = statements(template).filter(({ statement }) => actionsOf(statement).some((action) => action.startsWith('kms:')));
    expect(decrypts.map(({ role }) => role).sort()).toEqual([roleOf(stack, stack.gateway.functions.api), roleOf(stack, stack.gateway.functions.poll)].sort());
    for (const { statement } of decrypts) {
      expect(statement).toMatchObject({ Effect: 'Allow', Action: 'kms:Decrypt', Resource: KMS_KEY });
      expect(Object.keys(statement.Condition)).toEqual(['StringEquals']);
      expect(render(statement.Condition.StringEquals['kms:ViaService'])).toBe('secretsmanager.${AWS::Region}.amazonaws.com');
    }
  });

  it('without a KMS key, nothing is granted on KMS', () => {
    const { template } = build({ upstreamKeySecretArn: PARTIAL });
    expect(statements(template).filter(({ statement }) => actionsOf(statement).some((action) => action.startsWith('kms:')))).toEqual([]);
  });

  it('a partial ARN and a KMS key pass cdk-nag with no new acknowledgment (the synth fails on any finding)', () => {
    const { app } = build({ upstreamKeySecretArn: PARTIAL, upstreamKeySecretKmsKeyArn: KMS_KEY }, { nag: true });
    expect(() => app.synth()).not.toThrow();
  });

  it.each([
    [{ upstreamKeySecretKmsKeyArn: KMS_KEY }, /upstreamKeySecretKmsKeyArn.*upstreamKeySecretArn/],
    [{ upstreamKeySecretArn: PARTIAL, upstreamKeySecretKmsKeyArn: 'alias/luma' }, /upstreamKeySecretKmsKeyArn/],
  ])('%j fails the synth', (context, message) => {
    expect(() => build(context)).toThrow(message);
  });
});

describe('the execution history: 25,000 events', () => {
  it('a deadline whose poll rounds could overflow one execution’s history fails the synth, saying what to change', () => {
    // 24 hours at 10 s: 8,640 rounds of 9 events.
    expect(() => build({ generationTimeoutMinutes: '1440' })).toThrow(/25000 history events.*raise pollIntervalSeconds/);
    // The same deadline polled every 60 s fits (1,440 rounds).
    expect(() => build({ generationTimeoutMinutes: '1440', pollIntervalSeconds: '60' })).not.toThrow();
  });

  it('the defaults fit with room to spare', () => {
    expect(() => build()).not.toThrow();
  });
});

describe('logs and operator safety', () => {
  let template: Template;
  beforeAll(() => {
    ({ template } = build());
  });

  it('the state machine logs to a group under /aws/vendedlogs/states/ (the account’s log resource policy stays small)', () => {
    const machine = Object.values(template.findResources('AWS::StepFunctions::StateMachine'))[0] as Json;
    const groupId = machine.Properties.LoggingConfiguration.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'][0];
    const group = template.toJSON().Resources[groupId];
    expect(render(group.Properties.LogGroupName)).toMatch(/^\/aws\/vendedlogs\/states\/\$\{AWS::StackName\}-generations$/);
  });

  it('the table cannot be deleted without first turning deletion protection off', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', { Replicas: Match.arrayWith([Match.objectLike({ DeletionProtectionEnabled: true })]) });
  });
});
