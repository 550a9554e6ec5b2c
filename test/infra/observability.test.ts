/**
 * The stack's dashboard, alarms and tracing (infra/constructs/observability.ts): each alarm watches the
 * metric the functions publish (names from one catalogue) under the stack's own `service`, and notifies the
 * alarm topic; the email subscription exists only when asked for.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/app.ts';
import { GATEWAY_METRICS, METRICS_NAMESPACE } from '../../functions/commons/observability/names.ts';

const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };
const dirs: string[] = [];
function synth(context: Record<string, unknown> = {}): Template {
  const outdir = mkdtempSync(join(tmpdir(), 'observability-test-'));
  dirs.push(outdir);
  const { stack } = buildApp({ outdir, nag: false, validate: false, context: { ...NO_BUNDLING, ...context } });
  return Template.fromStack(stack);
}
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

let template: Template;
let topicId: string;
type Alarm = { Properties: Record<string, any> };
let alarms: Record<string, Alarm>;
const alarm = (name: string): Alarm => Object.values(alarms).find((a) => a.Properties.AlarmName === `LumaVideoGateway-${name}`)!;
/** The gateway metrics an alarm reads (a single metric, or the metrics of its expression). */
const gatewayMetricsOf = (a: Alarm): { name: string; service: string; stat: string }[] => {
  const single = a.Properties.Namespace ? [{ MetricStat: { Metric: { Namespace: a.Properties.Namespace, MetricName: a.Properties.MetricName, Dimensions: a.Properties.Dimensions }, Stat: a.Properties.Statistic } }] : [];
  return [...single, ...(a.Properties.Metrics ?? [])]
    .filter((m: any) => m.MetricStat?.Metric.Namespace === METRICS_NAMESPACE)
    .map((m: any) => ({ name: m.MetricStat.Metric.MetricName, service: m.MetricStat.Metric.Dimensions[0].Value, stat: m.MetricStat.Stat }));
};

beforeAll(() => {
  template = synth();
  topicId = Object.keys(template.findResources('AWS::SNS::Topic'))[0]!;
  alarms = template.findResources('AWS::CloudWatch::Alarm') as Record<string, Alarm>;
}, 120_000);

describe('alarms', () => {
  it('are these, each notifying the alarm topic', () => {
    expect(Object.values(alarms).map((a) => a.Properties.AlarmName).sort()).toEqual(
      ['FailedRate', 'OverdueTasks', 'WorkflowTimedOut', 'WorkflowFaults', 'LambdaThrottles', 'WebhookDeliveriesFailed', 'Upstream429', ...['Api', 'Poll', 'Copy', 'RecordFailure', 'Reconcile', 'DeliverWebhook'].map((fn) => `${fn}Errors`)]
        .map((name) => `LumaVideoGateway-${name}`)
        .sort(),
    );
    for (const a of Object.values(alarms)) expect(a.Properties.AlarmActions, a.Properties.AlarmName).toEqual([{ Ref: topicId }]);
  });

  it('read the metrics the functions publish, under the stack’s service name', () => {
    expect(gatewayMetricsOf(alarm('FailedRate'))).toEqual([
      { name: GATEWAY_METRICS.completed.name, service: 'LumaVideoGateway', stat: 'Sum' },
      { name: GATEWAY_METRICS.failed.name, service: 'LumaVideoGateway', stat: 'Sum' },
    ]);
    expect(gatewayMetricsOf(alarm('OverdueTasks'))).toEqual([{ name: GATEWAY_METRICS.overdueTasks.name, service: 'LumaVideoGateway', stat: 'Maximum' }]);
    expect(gatewayMetricsOf(alarm('WebhookDeliveriesFailed'))).toEqual([{ name: GATEWAY_METRICS.webhookDeliveriesFailed.name, service: 'LumaVideoGateway', stat: 'Sum' }]);
    expect(gatewayMetricsOf(alarm('Upstream429'))).toEqual([{ name: GATEWAY_METRICS.upstream429.name, service: 'LumaVideoGateway', stat: 'Sum' }]);
    expect(gatewayMetricsOf(alarm('WorkflowFaults'))).toEqual([{ name: GATEWAY_METRICS.workflowFailed.name, service: 'LumaVideoGateway', stat: 'Sum' }]);
  });

  it('the failed rate is judged only with enough finished tasks; a stopped reconciler alarms like an overdue task', () => {
    const expression = alarm('FailedRate').Properties.Metrics.find((m: any) => m.Expression).Expression as string;
    expect(expression).toBe('IF(completed + failed >= 10, 100 * failed / (completed + failed), 0)');
    expect(alarm('FailedRate').Properties.Threshold).toBe(20);
    const overdue = alarm('OverdueTasks').Properties;
    expect(overdue).toMatchObject({ TreatMissingData: 'breaching', Threshold: 1 });
    // Three runs of the reconciler (every 5 minutes) to a period: one late run is not a stopped reconciler.
    expect(overdue.Period ?? overdue.Metrics[0].MetricStat.Period).toBe(900);
    expect(alarm('Upstream429').Properties).toMatchObject({ EvaluationPeriods: 3, Threshold: 10, TreatMissingData: 'notBreaching' });
  });

  it('workflow faults are failed executions less those whose task failure was recorded', () => {
    const metrics = alarm('WorkflowFaults').Properties.Metrics as any[];
    expect(metrics.find((m) => m.Expression).Expression).toBe('FILL(failedExecutions, 0) - FILL(recorded, 0)');
    expect(metrics.find((m) => m.Id === 'failedExecutions').MetricStat.Metric).toMatchObject({ Namespace: 'AWS/States', MetricName: 'ExecutionsFailed' });
  });
});

describe('the alarm topic', () => {
  it('takes TLS only, and has no subscription unless alarmEmail is set', () => {
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    template.hasOutput('AlarmTopicArn', { Value: { Ref: topicId } });
  });

  it('subscribes the context’s alarmEmail', () => {
    const withEmail = synth({ alarmEmail: 'ops@example.com' });
    withEmail.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: { Ref: topicId } });
  });
});

describe('dashboard and tracing', () => {
  it('has one dashboard, named after the stack', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'LumaVideoGateway-operations' });
  });

  it('traces the API stage, the state machine and every function with X-Ray', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', { TracingEnabled: true });
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { TracingConfiguration: { Enabled: true } });
    for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
  });
});
