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
  JitterType,
  Pass,
  LogLevel,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
  JsonPath,
  type RetryProps,
  Wait,
  WaitTime,
  type IChainable,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { GatewayFunction } from './gateway-function.ts';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { grantObjects, grantSecretValue, grantStartExecution, grantTable } from './permissions.ts';
import {
  capacityEnvironment,
  resubmitEnvironment,
  upstreamEnvironment,
  type CapacitySettings,
  type UpstreamSettings,
} from './function-environment.ts';
import { acknowledge, resourceFinding } from '../nag.ts';
import { AssetPolicy } from '../../functions/commons/policy/asset-policy.ts';
import { checkSetting, defaultOf, settingsEnvironment } from '../../functions/commons/settings/reader.ts';
import { errorsRetriedBy } from '../../functions/commons/errors.ts';

export interface WorkflowProps {
  readonly table: ITableV2;
  readonly bucket: IBucket;
  readonly upstream: UpstreamSettings;
  readonly upstreamKey: ISecret;
  /** How long a task may take end to end before it fails with `deadline_exceeded`. @default 30 minutes */
  readonly generationTimeout?: Duration;
  /** Wait between two polls of the upstream: whole seconds, 1 to 3600 (a Wait state's limits). @default 10 seconds */
  readonly pollInterval?: Duration;
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
 * Events one round of the wait → poll loop writes: the Poll task (state entered, scheduled, started,
 * succeeded, state exited), the Choice (entered, exited) and the Wait (entered, exited).
 */
export const EVENTS_PER_POLL_ROUND = 9;
/** Room for the rest of an execution: submit and copy steps, retries, the final states. */
const HISTORY_RESERVE = 1_000;

const COPY_TIMEOUT = Duration.minutes(15);
const COPY_RETRIES = 3;

/**
 * What the workflow's Retry blocks match. Our own errors by their classes' names, which Lambda reports as
 * `errorType`, as the error catalogue lists them for each step (functions/commons/errors.ts).
 */
const RETRY = {
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
const THROTTLED_RETRY = {
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
 *   Poll ─► Next step? ─ wait ──► Wait ─► Poll …
 *                      ├ copy ──► Copy ─► Completed
 *                      ├ completed ─► Completed
 *                      └ failed ─► Failed
 *   any error (after retries) ─► Record failure ─► Failed
 *
 * An execution starts when its task is admitted (given an upstream slot): a queued task has none. Poll
 * submits the admitted task, reads the upstream and records each change; it owns the deadline, so the
 * loop is bounded by data as well as by the machine's own timeout. Transient errors retry with
 * capped exponential backoff and full jitter; permanent ones go straight to Record failure.
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

  constructor(scope: Construct, id: string, props: WorkflowProps) {
    super(scope, id);
    this.generationTimeout = props.generationTimeout ?? Duration.seconds(defaultOf('generationTimeout'));
    const deadline = this.generationTimeout.toSeconds({ integral: false });
    checkSetting('generationTimeout', deadline, 'generationTimeout (generationTimeoutMinutes)', `${deadline / 60} minutes`);
    // A Wait state waits whole seconds only: a fraction fails the execution (States.Runtime), uncatchably.
    const pollSeconds = (props.pollInterval ?? Duration.seconds(defaultOf('pollInterval'))).toSeconds({ integral: false });
    checkSetting('pollInterval', pollSeconds, 'pollInterval (pollIntervalSeconds)');

    // At one poll a round, a generation that runs to its deadline must fit in one execution's history.
    const rounds = Math.ceil(this.generationTimeout.toSeconds() / pollSeconds);
    if (rounds * EVENTS_PER_POLL_ROUND + HISTORY_RESERVE > EXECUTION_HISTORY_LIMIT) {
      const longest = Math.floor((EXECUTION_HISTORY_LIMIT - HISTORY_RESERVE) / EVENTS_PER_POLL_ROUND) * pollSeconds;
      throw new Error(
        `generationTimeoutMinutes ${this.generationTimeout.toMinutes({ integral: false })} at pollIntervalSeconds ${pollSeconds} could take ` +
          `${rounds} poll rounds, more than one execution's ${EXECUTION_HISTORY_LIMIT} history events hold: ` +
          `raise pollIntervalSeconds or keep the deadline under ${Math.floor(longest / 60)} minutes.`,
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
    const dispatchEnv = settingsEnvironment({
      stateMachineArn: this.stateMachineArnFromName,
      generationTimeout: this.generationTimeout.toSeconds(),
    });
    this.pollFunction = new GatewayFunction(this, 'PollFunction', {
      handlerDir: 'poll',
      description: 'Submits an admitted task and polls the upstream, one workflow turn; hands freed slots on',
      environment: {
        ...tableEnv,
        ...capacityEnv,
        ...dispatchEnv,
        ...settingsEnvironment({ bucketName: props.bucket.bucketName, pollInterval: pollSeconds }),
        ...upstreamEnvironment(props.upstream, props.upstreamKey),
        ...resubmitEnvironment(props.upstream),
      },
    });
    grantTable(this.pollFunction, props.table, { capacity: true, puts: ['TASK', 'UPSTREAM'], updates: ['SLOT', 'RATE', 'OWNER'] });
    grantStartExecution(this.pollFunction, this.stateMachineArnFromName);
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
    grantObjects(this.copyFunction, props.bucket, ['s3:PutObject', 's3:AbortMultipartUpload'], 'generations/*');

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

    const poll = this.invoke('Poll', this.pollFunction, recordFailure, {
      transient: { errors: RETRY.pollTransient, interval: Duration.seconds(5), maxAttempts: 6, maxDelay: Duration.seconds(60) },
      // Poll is safe to repeat: every write is a monotonic transition, and a submit is fenced by its lease.
      invokeErrors: [...RETRY.invokeFailed, ...RETRY.outcomeUnknown],
    });
    const copyTransient = { errors: RETRY.copyTransient, interval: Duration.seconds(5), maxAttempts: COPY_RETRIES, maxDelay: Duration.seconds(30) };
    const copy = this.invoke('Copy', this.copyFunction, recordFailure, { transient: copyTransient, invokeErrors: RETRY.invokeFailed });
    copy.next(completed);

    const wait = new Wait(this, 'Wait', { time: WaitTime.secondsPath('$.waitSeconds') });
    wait.next(poll);

    poll.next(
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
      definitionBody: DefinitionBody.fromChainable(poll),
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
  private invoke(
    id: string,
    fn: GatewayFunction,
    onError: IChainable,
    retry: { transient: { errors: string[]; interval: Duration; maxAttempts: number; maxDelay: Duration }; invokeErrors: string[] },
  ): LambdaInvoke {
    const step = new LambdaInvoke(this, id, {
      lambdaFunction: fn,
      payload: TaskInput.fromObject({ taskId: JsonPath.stringAt('$.taskId') }),
      outputPath: '$.Payload',
      retryOnServiceExceptions: false,
    });
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
    step.addCatch(onError, { errors: ['States.ALL'], resultPath: '$.error' });
    return step;
  }
}
