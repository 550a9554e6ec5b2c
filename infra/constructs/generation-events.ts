import { ArnFormat, Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { EventBus, type IEventBus } from 'aws-cdk-lib/aws-events';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  Choice,
  Condition,
  DefinitionBody,
  Fail,
  JitterType,
  JsonPath,
  LogLevel,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
  Wait,
  WaitTime,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { GatewayFunction } from './gateway-function.ts';
import { grantObjects, grantPutEvents, grantStartExecution, grantTable } from './permissions.ts';
import { RETRY, THROTTLED_RETRY } from './workflow.ts';
import { acknowledge, resourceFinding } from '../nag.ts';
import { checkSetting, defaultOf, settingsEnvironment } from '../../functions/commons/settings/reader.ts';
import { MAX_RETRY_SECONDS } from '../../functions/commons/domain/webhook-delivery.ts';

export interface GenerationEventsProps {
  readonly table: ITableV2;
  readonly bucket: IBucket;
  /** The bus every change is published to. @default the account's default bus */
  readonly eventBus?: IEventBus;
  /**
   * The functions that change tasks, and so publish the changes (TaskLifecycle): each may put events on the
   * bus and start delivery runs, and learns the bus, the delivery workflow and the bucket from its environment.
   */
  readonly publishers: readonly GatewayFunction[];
  /** Lists a task's deliveries and starts a retry (`GET …/deliveries`, `POST …/retry`): it learns the retry window. */
  readonly api: GatewayFunction;
  /** How long a delivery that is not taken is retried: 24 hours to 7 days. @default 24 hours */
  readonly webhookRetryWindow?: Duration;
}

/**
 * Where a generation's changes go (functions/commons/services/publishing.ts): EventBridge events on a bus,
 * and the client's webhook, through a delivery workflow of its own, one execution per delivery run:
 *
 *   Attempt ─► Next attempt? ─ wait ──► Wait ─► Attempt …
 *                            └ done ──► Done (delivered, or given up: the ledger says which)
 *   the attempt itself failing (after retries) ─► Delivery failed
 *
 * Why Step Functions rather than an SQS queue with a dead-letter queue: a delivery waits up to an hour
 * between attempts and retries for a day, which a Standard workflow's Wait does for the price of its state
 * transitions (about 4 per attempt), while SQS holds a message back 15 minutes at most (DelaySeconds,
 * ChangeMessageVisibility) and would need re-sending every quarter of an hour; the run is named after the
 * delivery, so a publication repeated after a crash starts nothing twice; the attempt's jittered backoff
 * comes from the function as data (`waitSeconds`), so the local runtime scales it like the generation
 * workflow's waits; and `npm start` runs the very definition in its local Step Functions, where SQS has no
 * local stand-in.
 */
export class GenerationEvents extends Construct {
  public readonly eventBus: IEventBus;
  public readonly deliverFunction: GatewayFunction;
  public readonly deliveryStateMachine: StateMachine;
  public readonly webhookRetryWindow: Duration;

  constructor(scope: Construct, id: string, props: GenerationEventsProps) {
    super(scope, id);
    this.eventBus = props.eventBus ?? EventBus.fromEventBusName(this, 'DefaultBus', 'default');
    this.webhookRetryWindow = props.webhookRetryWindow ?? Duration.seconds(defaultOf('webhookRetryWindow'));
    const windowSeconds = this.webhookRetryWindow.toSeconds();
    checkSetting('webhookRetryWindow', windowSeconds, 'webhookRetryWindow', `${windowSeconds / 3600} hours`);
    const windowEnv = settingsEnvironment({ webhookRetryWindow: windowSeconds });

    this.deliverFunction = new GatewayFunction(this, 'DeliverWebhookFunction', {
      handlerDir: 'deliver-webhook',
      description: "Makes one attempt of a webhook delivery to a client's URL and records it in the ledger",
      environment: { ...settingsEnvironment({ tableName: props.table.tableName, bucketName: props.bucket.bucketName }), ...windowEnv },
    });
    // Reads the task, its owner's queue and the key's secrets (GetItem); writes only the ledger.
    grantTable(this.deliverFunction, props.table, { puts: ['DELIVERY'] });
    grantObjects(this.deliverFunction, props.bucket, ['s3:GetObject'], 'generations/*'); // to presign the links in `data`

    const attempt = new LambdaInvoke(this, 'Attempt', {
      lambdaFunction: this.deliverFunction,
      payload: TaskInput.fromObject({ deliveryId: JsonPath.stringAt('$.deliveryId'), run: JsonPath.numberAt('$.run') }),
      outputPath: '$.Payload',
      retryOnServiceExceptions: false,
    });
    // An attempt is safe to repeat (the receiver drops a repeat by its webhook-id): every failure of the
    // invocation itself, and the ledger's write losing a race, is retried before the run is given up.
    attempt.addRetry({
      errors: [...RETRY.invokeFailed, ...RETRY.outcomeUnknown, 'TransientAwsError', 'Error'],
      interval: Duration.seconds(2),
      maxAttempts: 5,
      backoffRate: 2,
      maxDelay: Duration.seconds(60),
      jitterStrategy: JitterType.FULL,
    });
    attempt.addRetry(THROTTLED_RETRY);
    attempt.addCatch(new Fail(this, 'Delivery failed', { error: 'DeliveryFailed', cause: "The attempt kept failing; see the deliver function's logs." }), {
      errors: ['States.ALL'],
    });
    const wait = new Wait(this, 'Wait', { time: WaitTime.secondsPath('$.waitSeconds') });
    wait.next(attempt);
    attempt.next(new Choice(this, 'Next attempt?').when(Condition.stringEquals('$.next', 'wait'), wait).otherwise(new Succeed(this, 'Done')));

    const name = `${Stack.of(this).stackName}-webhooks`;
    this.deliveryStateMachine = new StateMachine(this, 'DeliveryStateMachine', {
      stateMachineName: name,
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromChainable(attempt),
      // A backstop: the function gives the run up once an attempt at or after the window's end fails.
      timeout: this.webhookRetryWindow.plus(Duration.seconds(MAX_RETRY_SECONDS)).plus(Duration.hours(1)),
      tracingEnabled: true,
      // Every transition, not its data: the state holds ids only, but the logs need no more than that.
      logs: {
        destination: new LogGroup(this, 'DeliveryStateMachineLogs', {
          logGroupName: `/aws/vendedlogs/states/${Aws.STACK_NAME}-webhooks`,
          retention: RetentionDays.ONE_MONTH,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
        level: LogLevel.ALL,
        includeExecutionData: false,
      },
    });
    acknowledge(
      this.deliveryStateMachine.role,
      'IAM5',
      'Resource "*": X-Ray tracing and CloudWatch Logs delivery support no resource-level permissions; and the qualified ARNs ' +
        "(versions and aliases) of the deliver function, added by CDK's LambdaInvoke next to its unqualified ARN.",
      ['Resource::*', resourceFinding(this, `${this.deliverFunction.functionArn}:*`)],
    );

    // The publishers may start runs of the workflow by its ARN from its literal name: a reference would make
    // the generation workflow's functions depend on this state machine for no reason.
    const deliveryArn = Stack.of(this).formatArn({ service: 'states', resource: 'stateMachine', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    const publishEnv = settingsEnvironment({
      eventBusName: this.eventBus.eventBusName,
      webhookStateMachineArn: deliveryArn,
      bucketName: props.bucket.bucketName,
    });
    for (const fn of props.publishers) {
      for (const [key, value] of Object.entries(publishEnv)) fn.addEnvironment(key, value);
      grantPutEvents(fn, this.eventBus);
      grantStartExecution(fn, deliveryArn);
    }
    for (const [key, value] of Object.entries(windowEnv)) props.api.addEnvironment(key, value);
  }
}
