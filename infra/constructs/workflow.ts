import { ArnFormat, Aws, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  Choice,
  Condition,
  DefinitionBody,
  Fail,
  IntegrationPattern,
  JitterType,
  Pass,
  LogLevel,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
  Timeout,
  JsonPath,
  type RetryProps,
  type IChainable,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { GatewayFunction } from './gateway-function.ts';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { grantObjects, grantSecretValue, grantStartExecution, grantTable, grantWake } from './permissions.ts';
import {
  capacityEnvironment,
  checkPolling,
  pollingEnvironment,
  resubmitEnvironment,
  upstreamEnvironment,
  type CapacitySettings,
  type CheckedPolling,
  type PollingSettings,
  type UpstreamSettings,
} from './function-environment.ts';
import { acknowledge, resourceFinding } from '../nag.ts';
import { AssetPolicy } from '../../functions/commons/policy/asset-policy.ts';
import { checkSetting, defaultOf, settingsEnvironment } from '../../functions/commons/settings/reader.ts';
import { MAX_WORKFLOW_WAIT_SECONDS } from '../../functions/commons/domain/workflow-wait.ts';
import { errorsRetriedBy } from '../../functions/commons/errors.ts';

export interface WorkflowProps {
  readonly table: ITableV2;
  readonly bucket: IBucket;
  readonly upstream: UpstreamSettings;
  readonly upstreamKey: ISecret;
  /** How long a task may take end to end before it fails with `deadline_exceeded`. @default 30 minutes */
  readonly generationTimeout?: Duration;
  /**
   * The shortest wait between two polls when no callback is expected, and between tries of a deferred
   * submit: whole seconds, 1 to 3600 (a callback task's timeout is whole seconds). @default 3 seconds
   */
  readonly pollInterval?: Duration;
  /** When the workflow reads the upstream: callbacks, the fallback and the adaptive schedule. @default callbacks, 60 s fallback */
  readonly polling?: PollingSettings;
  /** The upstream account's limits, which the gateway keeps below. @default 10 in flight, 20 creates a minute */
  readonly capacity?: CapacitySettings;
  /** How often the reconciler looks for tasks whose workflow is gone, and for lost slots. @default 5 minutes */
  readonly reconcileInterval?: Duration;
  /**
   * Where the copy function may download assets from: host patterns (`storage.cdn-luma.com`, `*.cdn-luma.com`,
   * https only, public addresses only) and explicit origins (`http://10.0.0.5:8080`, exactly that origin).
   * @default the Luma API's asset hosts (`*.cdn-luma.com`)
   */
  readonly assetHostAllowlist?: readonly string[];
}

/** Step Functions keeps at most this many events in one execution's history; past it the execution fails. */
export const EXECUTION_HISTORY_LIMIT = 25_000;
/**
 * Events one turn of the wait writes, at most: the callback task (state entered, scheduled, started,
 * submitted, then succeeded or timed out, state exited) and, when the turn ends its own wait or a callback
 * does, the Choice (entered, exited).
 */
export const EVENTS_PER_POLL_ROUND = 8;
/** Room for the rest of an execution: submit and copy steps, retries, the final states. */
const HISTORY_RESERVE = 1_000;
/**
 * Turns the upstream's callbacks may add to a run: a callback wakes the workflow only when its read finds
 * the generation ended or failed on the upstream's side (once, and once a resubmit), so this is room to spare.
 */
const CALLBACK_TURNS = 10;

const COPY_TIMEOUT = Duration.minutes(15);
const COPY_RETRIES = 3;

/**
 * What the workflow's Retry blocks match. Our own errors by their classes' names, which Lambda reports as
 * `errorType`, as the error catalogue lists them for each step (functions/commons/errors.ts).
 */
export const RETRY = {
  /** Poll: the upstream or one of the gateway's AWS services did not answer well this time. */
  pollTransient: errorsRetriedBy('Poll'),
  /** Copy: a cut or refused-for-now download, or a throttled AWS service; the copy starts again from scratch. */
  copyTransient: errorsRetriedBy('Copy'),
  /** The invoke itself failed (AWS recommends retrying these for every Lambda task). */
  invokeFailed: ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException'],
  /**
   * The invocation's fate is unknown: it ran past its timeout, the client gave up waiting, or the runtime
   * crashed. Retried only where repeating a step is safe and cheap (Poll); Copy budgets its downloads from
   * the time it has left, so it does not time out, and repeating a crashed 15-minute copy is not cheap.
   */
  outcomeUnknown: ['Sandbox.Timedout', 'Lambda.ClientExecutionTimeoutException', 'Lambda.Unknown'],
  /** The account's Lambda concurrency is used up (new accounts often have 10; a copy holds one up to 15 minutes). */
  throttled: ['Lambda.TooManyRequestsException'],
};

/** Lambda throttling: minutes, not seconds, since what holds the concurrency may be a 15-minute copy. */
export const THROTTLED_RETRY = {
  errors: RETRY.throttled,
  interval: Duration.seconds(60),
  backoffRate: 2,
  maxDelay: Duration.seconds(600),
  maxAttempts: 6,
  jitterStrategy: JitterType.FULL,
} satisfies RetryProps;

/** The longest a retrier can wait in all: the sum of its capped delays, before jitter shortens them. */
function worstRetryDelay(retry: RetryProps): Duration {
  let seconds = 0;
  for (let attempt = 0; attempt < (retry.maxAttempts ?? 3); attempt++) {
    const delay = (retry.interval?.toSeconds() ?? 1) * (retry.backoffRate ?? 2) ** attempt;
    seconds += Math.min(delay, retry.maxDelay?.toSeconds() ?? Infinity);
  }
  return Duration.seconds(Math.ceil(seconds));
}

/**
 * The generation workflow, a Standard state machine (the wait is minutes long, beyond Express's limit):
 *
 *   ┌► Wait for the generation ─► Next step? ─ wait ──┐ (back to the wait)
 *   └─ its timeout (a turn) ┘                  ├ copy ──► Copy ─► Completed
 *                                              ├ completed ─► Completed
 *                                              └ failed ─► Failed
 *   any error (after retries) ─► Record failure ─► Failed
 *
 * An execution starts when its task is admitted (given an upstream slot): a queued task has none. Each
 * wait is a callback task: Poll is invoked with its token, submits the admitted task or reads the upstream
 * when a read is due, records each change, and ends the wait at once or holds it for its timeout; the
 * upstream's callback to the API ends a held wait the moment the generation is done. Poll owns the
 * deadline, so the loop is bounded by data as well as by the machine's own timeout. Transient errors retry
 * with capped exponential backoff and full jitter; permanent ones go straight to Record failure.
 */
export class GenerationWorkflow extends Construct {
  public readonly stateMachine: StateMachine;
  /**
   * The state machine's physical name, `<stack name>-generation`: a literal, so that its ARN can be named
   * without referring to the state machine (see `stateMachineArnFromName`).
   */
  public readonly stateMachineName: string;
  /**
   * The state machine's ARN, formatted from its literal name. The functions that dispatch (Poll and Record
   * failure, which the state machine invokes) start executions of it: a reference to the state machine
   * itself would make them depend on it while it depends on them, a cycle CloudFormation refuses.
   */
  public readonly stateMachineArnFromName: string;
  public readonly pollFunction: GatewayFunction;
  public readonly copyFunction: GatewayFunction;
  public readonly recordFailureFunction: GatewayFunction;
  public readonly reconcileFunction: GatewayFunction;
  public readonly reconcileSchedule: Rule;
  public readonly generationTimeout: Duration;
  /** The polling settings, checked; the API reads the upstream on callbacks with the same. */
  public readonly polling: CheckedPolling;
  /** The schedule's variables (functions/commons/domain/poll-schedule.ts), for whoever reads the upstream or starts a run. */
  public readonly pollingEnvironment: Record<string, string>;

  constructor(scope: Construct, id: string, props: WorkflowProps) {
    super(scope, id);
    this.generationTimeout = props.generationTimeout ?? Duration.seconds(defaultOf('generationTimeout'));
    const deadline = this.generationTimeout.toSeconds({ integral: false });
    checkSetting('generationTimeout', deadline, 'generationTimeout (generationTimeoutMinutes)', `${deadline / 60} minutes`);
    // A Wait state waits whole seconds only: a fraction fails the execution (States.Runtime), uncatchably.
    const pollSeconds = (props.pollInterval ?? Duration.seconds(defaultOf('pollInterval'))).toSeconds({ integral: false });
    checkSetting('pollInterval', pollSeconds, 'pollInterval (pollIntervalSeconds)');

    this.polling = checkPolling(props.polling ?? {});
    // Every turn of the wait either reads the upstream (at most maxPollsPerTask reads), moves the wait to
    // the next read (once per read, or per callback), retries a deferred submit (at most one per poll
    // interval until the deadline), or waits out the hour a wait is capped at: a run that goes to its
    // deadline must fit in one execution's history.
    const turns =
      2 * this.polling.maxPollsPerTask + CALLBACK_TURNS + Math.ceil(deadline / pollSeconds) + Math.ceil(deadline / MAX_WORKFLOW_WAIT_SECONDS);
    if (turns * EVENTS_PER_POLL_ROUND + HISTORY_RESERVE > EXECUTION_HISTORY_LIMIT) {
      throw new Error(
        `generationTimeoutMinutes ${this.generationTimeout.toMinutes({ integral: false })} at pollIntervalSeconds ${pollSeconds} and maxPollsPerTask ` +
          `${this.polling.maxPollsPerTask} could take ${turns} turns of the workflow's wait, more than one execution's ${EXECUTION_HISTORY_LIMIT} ` +
          'history events hold: raise pollIntervalSeconds, lower maxPollsPerTask or shorten the deadline.',
      );
    }

    const reconcileInterval = props.reconcileInterval ?? Duration.seconds(defaultOf('reconcileInterval'));
    const reconcileSeconds = reconcileInterval.toSeconds({ integral: false });
    if (!Token.isUnresolved(reconcileSeconds) && !(reconcileSeconds >= 60 && reconcileSeconds % 60 === 0)) {
      // An EventBridge rate is whole minutes.
      throw new Error(`reconcileInterval (reconcileIntervalMinutes) must be a whole number of minutes, at least 1, not ${reconcileSeconds / 60} minutes.`);
    }

    this.stateMachineName = `${Stack.of(this).stackName}-generation`;
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(this.stateMachineName)) {
      throw new Error(`The state machine's name "${this.stateMachineName}" must be 1 to 80 letters, digits, - and _: choose a shorter stack name.`);
    }
    this.stateMachineArnFromName = Stack.of(this).formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: this.stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const tableEnv = settingsEnvironment({ tableName: props.table.tableName });
    const capacityEnv = capacityEnvironment(props.capacity ?? {});
    // What a function that dispatches needs: the workflow it starts for each task it admits, and the
    // generation deadline, which starts at admission.
    this.pollingEnvironment = pollingEnvironment(this.polling, pollSeconds);
    // A run's first wait is the callback fallback (adapters/workflow.ts): every starter must start alike.
    const dispatchEnv = settingsEnvironment({
      stateMachineArn: this.stateMachineArnFromName,
      generationTimeout: this.generationTimeout.toSeconds(),
      pollFallback: this.polling.callbackFallbackSeconds,
    });
    this.pollFunction = new GatewayFunction(this, 'PollFunction', {
      handlerDir: 'poll',
      description: "Submits an admitted task and polls the upstream, one turn of the workflow's wait; hands freed slots on",
      environment: {
        ...tableEnv,
        ...capacityEnv,
        ...dispatchEnv,
        ...this.pollingEnvironment,
        ...settingsEnvironment({ bucketName: props.bucket.bucketName }),
        ...upstreamEnvironment(props.upstream, props.upstreamKey),
        ...resubmitEnvironment(props.upstream),
      },
    });
    grantTable(this.pollFunction, props.table, { capacity: true, puts: ['TASK', 'UPSTREAM', 'STATS'], updates: ['SLOT', 'RATE', 'OWNER'] });
    grantStartExecution(this.pollFunction, this.stateMachineArnFromName);
    grantWake(this.pollFunction, this.stateMachineArnFromName); // a turn ends its own wait
    grantObjects(this.pollFunction, props.bucket, ['s3:GetObject'], 'inputs/*'); // to presign keyframes
    grantSecretValue(this.pollFunction, props.upstreamKey);

    this.copyFunction = new GatewayFunction(this, 'CopyFunction', {
      handlerDir: 'copy',
      description: 'Streams a finished video and its thumbnail into the bucket',
      memorySize: 1024,
      timeout: COPY_TIMEOUT,
      // The download gives up a minute before Lambda would, so the failure is ours to name and retry; the
      // handler also budgets each download from the time the invocation has left (copy-output.ts).
      environment: {
        ...tableEnv,
        ...settingsEnvironment({
          bucketName: props.bucket.bucketName,
          downloadTimeout: COPY_TIMEOUT.minus(Duration.minutes(1)).toMilliseconds(),
          // Parsed here too, so a malformed entry fails the synth rather than the first copy.
          assetHostAllowlist: AssetPolicy.parse(props.assetHostAllowlist ?? defaultOf('assetHostAllowlist')).toString(),
        }),
      },
    });
    // Copy moves tasks from `copying`, whose slot was given back already: nothing to hand on.
    grantTable(this.copyFunction, props.table, { puts: ['TASK'] });
    // DeleteObject: a copy that finds its task cancelled (or deleted) meanwhile removes what it stored.
    grantObjects(this.copyFunction, props.bucket, ['s3:PutObject', 's3:AbortMultipartUpload', 's3:DeleteObject'], 'generations/*');

    this.recordFailureFunction = new GatewayFunction(this, 'RecordFailureFunction', {
      handlerDir: 'record-failure',
      description: 'Records why a task failed; hands its slot on',
      environment: { ...tableEnv, ...capacityEnv, ...dispatchEnv },
    });
    grantTable(this.recordFailureFunction, props.table, { capacity: true, puts: ['TASK'], updates: ['SLOT', 'OWNER'] });
    grantStartExecution(this.recordFailureFunction, this.stateMachineArnFromName);

    const failed = new Fail(this, 'Failed', { error: 'GenerationFailed', cause: "See the task's failure_reason." });
    const completed = new Succeed(this, 'Completed');

    const recordFailure = new LambdaInvoke(this, 'Record failure', {
      lambdaFunction: this.recordFailureFunction,
      payload: TaskInput.fromObject({ taskId: JsonPath.stringAt('$.taskId'), error: JsonPath.objectAt('$.error') }),
      outputPath: '$.Payload',
      retryOnServiceExceptions: false,
    });
    // Throttling first: retriers are tried in order, and States.ALL must come last.
    recordFailure.addRetry(THROTTLED_RETRY);
    recordFailure.addRetry({
      errors: ['States.ALL'],
      interval: Duration.seconds(2),
      maxAttempts: 5,
      backoffRate: 2,
      maxDelay: Duration.seconds(30),
      jitterStrategy: JitterType.FULL,
    });
    recordFailure.next(failed);

    const copyTransient = { errors: RETRY.copyTransient, interval: Duration.seconds(5), maxAttempts: COPY_RETRIES, maxDelay: Duration.seconds(30) };
    const copy = this.invoke('Copy', this.copyFunction, recordFailure, { transient: copyTransient, invokeErrors: RETRY.invokeFailed });
    copy.next(completed);

    // The wait: a callback task whose timeout is the wait the last turn asked for. Poll is invoked at the
    // start of each wait with its token, and ends it at once or holds it; the upstream's callback (the API)
    // ends a held one early; its timeout is caught back into the same state, so a turn is one state.
    const wait = new LambdaInvoke(this, 'Wait for the generation', {
      lambdaFunction: this.pollFunction,
      integrationPattern: IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      payload: TaskInput.fromObject({ taskToken: JsonPath.taskToken, taskId: JsonPath.stringAt('$.taskId'), state: JsonPath.entirePayload }),
      taskTimeout: Timeout.at('$.waitSeconds'),
      retryOnServiceExceptions: false,
    });
    this.addRetries(wait, {
      transient: { errors: RETRY.pollTransient, interval: Duration.seconds(5), maxAttempts: 6, maxDelay: Duration.seconds(60) },
      // Poll is safe to repeat: every write is a monotonic transition, and a submit is fenced by its lease.
      invokeErrors: [...RETRY.invokeFailed, ...RETRY.outcomeUnknown],
    });
    // Catchers are tried in order: the wait's own timeout first (the turn's `woke`), everything else after.
    wait.addCatch(wait, { errors: ['States.Timeout'], resultPath: '$.woke' });
    wait.addCatch(recordFailure, { errors: ['States.ALL'], resultPath: '$.error' });

    wait.next(
      new Choice(this, 'Next step?')
        .when(Condition.stringEquals('$.next', 'wait'), wait)
        .when(Condition.stringEquals('$.next', 'copy'), copy)
        .when(Condition.stringEquals('$.next', 'completed'), completed)
        .when(Condition.stringEquals('$.next', 'failed'), failed)
        .otherwise(
          // Record failure reads `$.error`: give it one, so an unknown step is recorded, not a runtime error.
          new Pass(this, 'Unexpected next step', {
            parameters: {
              'taskId.$': '$.taskId',
              error: { Error: 'UnexpectedNextStep', 'Cause.$': 'States.JsonToString($)' },
            },
          }).next(recordFailure),
        ),
    );

    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineName: this.stateMachineName,
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromChainable(wait),
      // Poll enforces the deadline and records it; this uncatchable backstop must never cut short a copy
      // that starts at the deadline, so it leaves room for every copy attempt and its backoff, and for one
      // stretch of Lambda throttling.
      timeout: this.generationTimeout
        .plus(Duration.minutes(COPY_TIMEOUT.toMinutes() * (COPY_RETRIES + 1)))
        .plus(worstRetryDelay({ ...copyTransient, backoffRate: 2 }))
        .plus(worstRetryDelay(THROTTLED_RETRY))
        .plus(Duration.minutes(10)),
      tracingEnabled: true,
      // Every state transition (cdk-nag AwsSolutions-SF1), but not its input and output: those hold
      // prompts, error causes and upstream URLs, which belong in the task record, not in logs.
      logs: {
        destination: new LogGroup(this, 'StateMachineLogs', {
          // Under /aws/vendedlogs/: CloudWatch Logs' account-wide resource policy (5,120 characters) would
          // otherwise grow by one entry per state machine log group, and run out.
          logGroupName: `/aws/vendedlogs/states/${Aws.STACK_NAME}-generations`,
          retention: RetentionDays.ONE_MONTH,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
        level: LogLevel.ALL,
        includeExecutionData: false,
      },
    });
    acknowledge(
      this.stateMachine.role,
      'IAM5',
      'Resource "*": X-Ray tracing (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) and ' +
        'CloudWatch Logs delivery (logs:CreateLogDelivery and the other log-delivery actions) support no resource-level permissions.',
      ['Resource::*'],
    );
    acknowledge(
      this.stateMachine.role,
      'IAM5',
      "Qualified ARNs (versions and aliases) of the three workflow functions, added by CDK's LambdaInvoke next to the unqualified ARN; no other function.",
      [this.pollFunction, this.copyFunction, this.recordFailureFunction].map((fn) => resourceFinding(this, `${fn.functionArn}:*`)),
    );

    this.reconcileFunction = new GatewayFunction(this, 'ReconcileFunction', {
      handlerDir: 'reconcile',
      description: 'Restarts or fails tasks whose workflow is gone, frees lost upstream slots, dispatches queued tasks',
      timeout: Duration.minutes(5),
      environment: {
        ...tableEnv,
        ...capacityEnv,
        ...dispatchEnv,
        ...settingsEnvironment({
          stateMachineArn: this.stateMachine.stateMachineArn,
          // Set, though it is the functions' default too: the local runtime scales what it finds here.
          reconcileGrace: defaultOf('reconcileGrace'),
        }),
      },
    });
    grantTable(this.reconcileFunction, props.table, { capacity: true, phases: true, puts: ['TASK'], updates: ['SLOT', 'OWNER'] });
    this.stateMachine.grantStartExecution(this.reconcileFunction);
    const describe = this.stateMachine.grantExecution(this.reconcileFunction, 'states:DescribeExecution');
    acknowledge(
      this.reconcileFunction.role!,
      'IAM5',
      'DescribeExecution on the executions of this one state machine: execution names are task ids (and -r2, -r3 reruns) known only at run time.',
      describe.principalStatements.flatMap((statement) => statement.resources).map((arn) => resourceFinding(this, arn)),
    );
    this.reconcileSchedule = new Rule(this, 'ReconcileSchedule', {
      description: 'Runs the reconciler of the video gateway',
      schedule: Schedule.rate(reconcileInterval),
      targets: [new LambdaFunction(this.reconcileFunction, { retryAttempts: 2 })],
    });
  }

  /**
   * A Lambda step: result in `$`; the step's transient errors retried with full jitter, then the invoke's
   * own failures, then Lambda throttling on its schedule of minutes; everything else to `onError`.
   */
  private invoke(id: string, fn: GatewayFunction, onError: IChainable, retry: StepRetries): LambdaInvoke {
    const step = new LambdaInvoke(this, id, {
      lambdaFunction: fn,
      payload: TaskInput.fromObject({ taskId: JsonPath.stringAt('$.taskId') }),
      outputPath: '$.Payload',
      retryOnServiceExceptions: false,
    });
    this.addRetries(step, retry);
    step.addCatch(onError, { errors: ['States.ALL'], resultPath: '$.error' });
    return step;
  }

  private addRetries(step: LambdaInvoke, retry: StepRetries): void {
    step.addRetry({ ...retry.transient, backoffRate: 2, jitterStrategy: JitterType.FULL });
    step.addRetry({
      errors: retry.invokeErrors,
      interval: Duration.seconds(2),
      maxAttempts: 4,
      backoffRate: 2,
      maxDelay: Duration.seconds(30),
      jitterStrategy: JitterType.FULL,
    });
    step.addRetry(THROTTLED_RETRY);
  }
}

interface StepRetries {
  transient: { errors: string[]; interval: Duration; maxAttempts: number; maxDelay: Duration };
  invokeErrors: string[];
}
