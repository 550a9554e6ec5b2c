import { Duration, Stack, Token } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
  type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { RestApi } from 'aws-cdk-lib/aws-apigateway';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Subscription, SubscriptionProtocol, Topic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import {
  FAILURE_CODE_DIMENSION,
  GATEWAY_METRICS,
  METRICS_NAMESPACE,
  type GatewayMetricKey,
} from '../../functions/commons/observability/names.ts';

/** When the alarms go off. Every field has a default; see each. */
export interface AlarmThresholds {
  /** Percent of finished tasks that failed, over an hour with at least `failedRateMinTasks` finished. @default 20 */
  readonly failedRatePercent?: number;
  /** Finished tasks an hour below which the failed rate is not judged (a single failure is 100%). @default 10 */
  readonly failedRateMinTasks?: number;
  /** Percent of a function's invocations that ended in an error, over 15 minutes (with at least 10 invocations). @default 10 */
  readonly functionErrorPercent?: number;
  /** Upstream 429 answers in 5 minutes, 3 periods in a row: the upstream account's limit is reached, or shared. @default 10 */
  readonly upstream429Per5Minutes?: number;
}

export interface ObservabilityProps {
  /** The gateway's functions, by the names the dashboard shows. Each is told the metrics' service name. */
  readonly functions: Readonly<Record<string, LambdaFunction>>;
  readonly stateMachine: IStateMachine;
  readonly restApi: RestApi;
  /** How often the reconciler runs, which publishes `overdue_tasks` on every run. @default 5 minutes */
  readonly reconcileInterval?: Duration;
  /**
   * An email address subscribed to the alarm topic (SNS asks it to confirm first).
   * @default none: subscribe to the topic (an output of the stack) yourself
   */
  readonly alarmEmail?: string;
  /** @default see AlarmThresholds */
  readonly thresholds?: AlarmThresholds;
}

/**
 * What an operator looks at: a CloudWatch dashboard of the gateway's own metrics (the functions publish them
 * through Powertools, functions/commons/observability/) beside Lambda's, Step Functions' and API Gateway's,
 * and alarms on what needs a person, sent to an SNS topic (and an optional email subscription):
 *
 * - the share of finished tasks that failed;
 * - tasks unfinished past their deadline (the reconciler counts them on every run; no data means the
 *   reconciler stopped, which alarms too);
 * - workflow executions that timed out or were aborted, and executions that failed other than by a recorded
 *   task failure (a fault of the workflow itself);
 * - Lambda throttling (any function), and each function's error rate;
 * - sustained upstream 429s.
 *
 * The metrics' `service` dimension is the stack's name: every function is told it (POWERTOOLS_SERVICE_NAME)
 * here, so two gateways in one account keep their figures, dashboards and alarms apart.
 */
export class Observability extends Construct {
  public readonly topic: Topic;
  public readonly dashboard: Dashboard;
  public readonly alarms: Alarm[] = [];
  /** The email subscription, when `alarmEmail` is set. */
  public readonly emailSubscription?: Subscription;
  /** The value of the metrics' `service` dimension. */
  public readonly serviceName: string;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.serviceName = stack.stackName;
    const thresholds = {
      failedRatePercent: props.thresholds?.failedRatePercent ?? 20,
      failedRateMinTasks: props.thresholds?.failedRateMinTasks ?? 10,
      functionErrorPercent: props.thresholds?.functionErrorPercent ?? 10,
      upstream429Per5Minutes: props.thresholds?.upstream429Per5Minutes ?? 10,
    };
    for (const [name, value] of Object.entries(thresholds)) {
      if (!(Number.isFinite(value) && value > 0)) throw new Error(`Alarm threshold ${name} must be a number above 0, not ${value}.`);
    }
    for (const fn of Object.values(props.functions)) fn.addEnvironment('POWERTOOLS_SERVICE_NAME', this.serviceName);

    // TLS only (cdk-nag AwsSolutions-SNS3). Not encrypted with KMS: CloudWatch alarms cannot publish to a topic
    // under the AWS-managed SNS key, and the messages are alarm names and metric values, no task data.
    this.topic = new Topic(this, 'AlarmTopic', { displayName: `${this.serviceName} alarms`, enforceSSL: true });
    if (props.alarmEmail !== undefined && props.alarmEmail !== '') {
      // SNS accepts any text and then never delivers: a typo would leave the alarms unheard.
      if (!Token.isUnresolved(props.alarmEmail) && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(props.alarmEmail)) {
        throw new Error(`alarmEmail must be an email address, not "${props.alarmEmail}".`);
      }
      this.emailSubscription = new Subscription(this, 'AlarmEmail', {
        topic: this.topic,
        protocol: SubscriptionProtocol.EMAIL,
        endpoint: props.alarmEmail,
      });
    }

    const gateway = (key: GatewayMetricKey, statistic: string, period = Duration.minutes(5), label?: string) =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: GATEWAY_METRICS[key].name,
        dimensionsMap: { service: this.serviceName },
        statistic,
        period,
        label: label ?? GATEWAY_METRICS[key].name,
      });
    const reconcileInterval = props.reconcileInterval ?? Duration.minutes(5);
    const hour = Duration.hours(1);
    const quarter = Duration.minutes(15);

    // Failed rate: failed / (completed + failed), judged only once enough tasks finished.
    const failedRate = new MathExpression({
      expression: `IF(completed + failed >= ${thresholds.failedRateMinTasks}, 100 * failed / (completed + failed), 0)`,
      usingMetrics: { completed: gateway('completed', 'Sum', hour), failed: gateway('failed', 'Sum', hour) },
      period: hour,
      label: 'failed %',
    });
    this.alarm('FailedRate', failedRate, thresholds.failedRatePercent, 1, `More than ${thresholds.failedRatePercent}% of the tasks finished in an hour failed.`);

    // Overdue: the reconciler publishes the count on every run, so a period without data means it stopped.
    const overduePeriod = Duration.seconds(Math.max(reconcileInterval.toSeconds() * 3, 600));
    const overdue = gateway('overdueTasks', 'Maximum', overduePeriod);
    this.alarm('OverdueTasks', overdue, 1, 1, 'Admitted tasks are unfinished past their deadline, or the reconciler has not run.', TreatMissingData.BREACHING);

    const sm = props.stateMachine;
    const timedOut = new MathExpression({
      expression: 'FILL(timedOut, 0) + FILL(aborted, 0)',
      usingMetrics: { timedOut: sm.metricTimedOut({ period: Duration.minutes(5) }), aborted: sm.metricAborted({ period: Duration.minutes(5) }) },
      period: Duration.minutes(5),
      label: 'executions timed out or aborted',
    });
    this.alarm('WorkflowTimedOut', timedOut, 1, 1, 'Workflow executions timed out (the backstop past the deadline) or were aborted.');
    // Every execution whose task failed ends in the Failed state too: only the failures nobody recorded count.
    const faults = new MathExpression({
      expression: 'FILL(failedExecutions, 0) - FILL(recorded, 0)',
      usingMetrics: { failedExecutions: sm.metricFailed({ period: quarter }), recorded: gateway('workflowFailed', 'Sum', quarter) },
      period: quarter,
      label: 'executions failed without a recorded task failure',
    });
    this.alarm('WorkflowFaults', faults, 1, 1, 'Workflow executions failed without recording a task failure (a fault of the workflow: see its execution history).');

    const functions = Object.entries(props.functions);
    const throttles = new MathExpression({
      expression: functions.map((_, index) => `FILL(t${index}, 0)`).join(' + '),
      usingMetrics: Object.fromEntries(functions.map(([, fn], index) => [`t${index}`, fn.metricThrottles({ period: Duration.minutes(5) })])),
      period: Duration.minutes(5),
      label: 'throttled invocations',
    });
    this.alarm('LambdaThrottles', throttles, 1, 1, "Lambda throttled the gateway's functions: the account's concurrency is used up.");
    for (const [name, fn] of functions) {
      const errorRate = new MathExpression({
        expression: `IF(invocations >= 10, 100 * FILL(errors, 0) / invocations, 0)`,
        usingMetrics: { errors: fn.metricErrors({ period: quarter }), invocations: fn.metricInvocations({ period: quarter }) },
        period: quarter,
        label: `${name} errors %`,
      });
      this.alarm(`${name}Errors`, errorRate, thresholds.functionErrorPercent, 1, `More than ${thresholds.functionErrorPercent}% of the ${name} function's invocations failed.`);
    }

    const webhooksFailed = gateway('webhookDeliveriesFailed', 'Sum');
    this.alarm('WebhookDeliveriesFailed', webhooksFailed, 1, 1, 'Webhook deliveries were given up after their retry window: a client endpoint is down or refusing (see GET /luma/generations/{id}/deliveries).');

    const upstream429 = gateway('upstream429', 'Sum');
    this.alarm('Upstream429', upstream429, thresholds.upstream429Per5Minutes, 3, 'The upstream keeps answering 429: its account limits are reached (lower upstreamMaxConcurrent, or the key is shared).');

    this.dashboard = new Dashboard(this, 'Dashboard', { dashboardName: `${this.serviceName}-operations`, defaultInterval: Duration.hours(6) });
    const graph = (title: string, left: IMetric[], options: Partial<ConstructorParameters<typeof GraphWidget>[0]> = {}) =>
      new GraphWidget({ title, left, width: 8, height: 6, ...options });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `# ${this.serviceName}\nTasks, the upstream, the workflow and the functions. Metrics in \`${METRICS_NAMESPACE}\`, \`service = ${this.serviceName}\`.`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(new AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 3 }));
    this.dashboard.addWidgets(
      graph('Tasks', (['accepted', 'submitted', 'completed', 'failed'] as const).map((key) => gateway(key, 'Sum'))),
      graph('Failed, by failure_code', [
        new MathExpression({
          expression: `SEARCH('{${METRICS_NAMESPACE},service,${FAILURE_CODE_DIMENSION}} MetricName="${GATEWAY_METRICS.failed.name}" service="${this.serviceName}"', 'Sum', 300)`,
          label: '',
          period: Duration.minutes(5),
        }),
      ]),
      graph('Failed % (hourly) and overdue tasks', [failedRate], { right: [overdue] }),
    );
    this.dashboard.addWidgets(
      graph('Queue wait (s)', [gateway('queueWait', 'p50', undefined, 'p50'), gateway('queueWait', 'p90', undefined, 'p90'), gateway('queueWait', 'Maximum', undefined, 'max')]),
      graph('Upstream generation time (s)', [
        gateway('upstreamGenerationTime', 'p50', undefined, 'p50'),
        gateway('upstreamGenerationTime', 'p90', undefined, 'p90'),
      ]),
      graph('Copy throughput (MiB/s)', [gateway('copyThroughput', 'Average', undefined, 'average'), gateway('copyThroughput', 'Minimum', undefined, 'min')]),
    );
    this.dashboard.addWidgets(
      graph('Upstream 429s and duplicates', [upstream429, gateway('duplicatesAvoided', 'Sum'), gateway('duplicatesRisked', 'Sum')]),
      graph('Workflow executions', [
        sm.metricStarted({ label: 'started' }),
        sm.metricSucceeded({ label: 'succeeded' }),
        sm.metricFailed({ label: 'failed' }),
        sm.metricTimedOut({ label: 'timed out' }),
      ], { right: [faults] }),
      graph('API', [props.restApi.metricCount({ label: 'requests' }), props.restApi.metricClientError({ label: '4xx' }), props.restApi.metricServerError({ label: '5xx' })], {
        right: [props.restApi.metricLatency({ statistic: 'p90', label: 'latency p90 (ms)' })],
      }),
    );
    this.dashboard.addWidgets(
      graph('Lambda invocations', functions.map(([name, fn]) => fn.metricInvocations({ label: name }))),
      graph('Lambda errors and throttles', functions.map(([name, fn]) => fn.metricErrors({ label: `${name} errors` })), { right: [throttles] }),
      graph('Lambda duration p90 (ms)', functions.map(([name, fn]) => fn.metricDuration({ statistic: 'p90', label: name }))),
    );
  }

  /** An alarm on `metric` at or above `threshold` for `periods` periods in a row, notifying the topic. */
  private alarm(id: string, metric: IMetric, threshold: number, periods: number, description: string, missing = TreatMissingData.NOT_BREACHING): Alarm {
    const alarm = new Alarm(this, id, {
      alarmName: `${this.serviceName}-${id}`,
      alarmDescription: description,
      metric,
      threshold,
      evaluationPeriods: periods,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: missing,
    });
    alarm.addAlarmAction(new SnsAction(this.topic));
    this.alarms.push(alarm);
    return alarm;
  }
}
