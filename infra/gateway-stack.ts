import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { LumaVideoGateway, type LumaVideoGatewayProps } from './constructs/luma-video-gateway.ts';
import { ExampleConsumer } from './constructs/example-consumer.ts';
import { EventBus, type IEventBus } from 'aws-cdk-lib/aws-events';
import { secretArnForm } from '../functions/commons/domain/upstream-key.ts';

/** The gateway's props, with the upstream key's secret named by ARN, as CDK context names it. */
export interface GatewayStackProps extends StackProps, Omit<LumaVideoGatewayProps, 'upstreamKey' | 'eventBus'> {
  /** The bus the gateway publishes to, by name or ARN. @default `default`: the account's default bus */
  readonly eventBusName?: string;
  /**
   * Deploys the example consumer beside the gateway: an EventBridge rule on `Generation Completed` and a
   * function that writes `generations/{id}/metadata.json` beside each video. @default false
   */
  readonly exampleConsumer?: boolean;
  /**
   * ARN of an existing Secrets Manager secret holding the Luma API key (plain, or JSON `{"apiKey": "…"}`):
   * complete (ending in the 6 characters Secrets Manager adds) or partial (without them), told apart by shape.
   * @default a new secret holding the placeholder `{"apiKey": "REPLACE_ME"}`, whose ARN is a stack output: put your key in it
   */
  readonly upstreamKeySecretArn?: string;
  /**
   * ARN of the customer-managed KMS key that encrypts the secret named by `upstreamKeySecretArn`: the
   * functions that read the secret may then use it to decrypt, through Secrets Manager only.
   * @default none: the secret uses Secrets Manager's AWS-managed key
   */
  readonly upstreamKeySecretKmsKeyArn?: string;
}

/** The gateway, and the outputs an operator needs. */
export class GatewayStack extends Stack {
  public readonly gateway: LumaVideoGateway;
  /** Present with `exampleConsumer: true`. */
  public readonly exampleConsumer?: ExampleConsumer;

  constructor(scope: Construct, id: string, props: GatewayStackProps = {}) {
    super(scope, id, props);
    // Every prop of the construct, listed: one left out here would be a setting the stack silently ignores.
    const gatewayProps: { [K in keyof Required<LumaVideoGatewayProps>]: LumaVideoGatewayProps[K] } = {
      upstream: props.upstream,
      upstreamKey: existingUpstreamKey(this, props),
      generationTimeout: props.generationTimeout,
      pollInterval: props.pollInterval,
      polling: props.polling,
      capacity: props.capacity,
      assetHostAllowlist: props.assetHostAllowlist,
      keyLimits: props.keyLimits,
      reconcileInterval: props.reconcileInterval,
      publicBaseUrl: props.publicBaseUrl,
      clientLimits: props.clientLimits,
      apiThrottle: props.apiThrottle,
      setAccountCloudWatchRole: props.setAccountCloudWatchRole,
      corsAllowedOrigins: props.corsAllowedOrigins,
      eventBus: props.eventBusName === undefined ? undefined : eventBusNamed(this, props.eventBusName),
      alarmEmail: props.alarmEmail,
      bucket: props.bucket,
    };
    // The id "Default" is left out of logical ids: the resources keep the ids they had when this stack held
    // them directly. The table and the bucket are retained, and a new id would replace them with empty ones
    // (pinned by test/infra/logical-ids.test.ts).
    this.gateway = new LumaVideoGateway(this, 'Default', gatewayProps);

    const gateway = this.gateway;
    new CfnOutput(this, 'ApiUrl', { value: gateway.url, description: 'Base URL of the API' });
    new CfnOutput(this, 'BucketName', { value: gateway.bucket.bucketName, description: 'Where videos are stored' });
    new CfnOutput(this, 'TableName', { value: gateway.table.tableName, description: 'Tasks and API key hashes' });
    new CfnOutput(this, 'UpstreamKeySecret', { value: gateway.upstreamKey.secretArn, description: 'Put the Luma API key in this secret' });
    new CfnOutput(this, 'StateMachineArn', { value: gateway.stateMachine.stateMachineArn });
    new CfnOutput(this, 'EventBusName', { value: gateway.eventBus.eventBusName, description: "Where the gateway's events are published" });
    new CfnOutput(this, 'AlarmTopicArn', { value: gateway.observability.topic.topicArn, description: 'The alarms notify this SNS topic: subscribe to it' });
    new CfnOutput(this, 'DashboardName', { value: gateway.observability.dashboard.dashboardName, description: 'The CloudWatch dashboard of the gateway' });

    // Beside the gateway, not in it: a consumer of its events, as one of your own would be.
    if (props.exampleConsumer) this.exampleConsumer = new ExampleConsumer(this, 'ExampleConsumer', { bucket: gateway.bucket, eventBus: gateway.eventBus });
  }
}

/** The bus named by the `eventBusName` context: a name, or an ARN (a bus of this account and region). */
function eventBusNamed(scope: Construct, nameOrArn: string): IEventBus {
  if (nameOrArn.startsWith('arn:')) {
    if (!/^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/[A-Za-z0-9._\-/]{1,256}$/.test(nameOrArn)) {
      throw new Error(`eventBusName must be an event bus's name or ARN (arn:aws:events:<region>:<account>:event-bus/<name>), not "${nameOrArn}".`);
    }
    return EventBus.fromEventBusArn(scope, 'EventBus', nameOrArn);
  }
  if (!/^[A-Za-z0-9._-]{1,256}$/.test(nameOrArn)) throw new Error(`eventBusName must be an event bus's name (letters, digits, . _ -) or ARN, not "${nameOrArn}".`);
  return EventBus.fromEventBusName(scope, 'EventBus', nameOrArn);
}

/** The secret named by `upstreamKeySecretArn` (with its KMS key), or none: the construct then creates one. */
function existingUpstreamKey(scope: Construct, props: GatewayStackProps): ISecret | undefined {
  const { upstreamKeySecretArn: arn, upstreamKeySecretKmsKeyArn: kmsKeyArn } = props;
  if (kmsKeyArn !== undefined && !arn) {
    throw new Error(
      'upstreamKeySecretKmsKeyArn is the KMS key of the secret named by upstreamKeySecretArn; set both, or neither ' +
        '(the secret the stack creates uses the AWS-managed key).',
    );
  }
  if (!arn) return undefined;
  const form = secretArnForm(arn);
  if (!form) throw new Error(`upstreamKeySecretArn must be a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>), not "${arn}".`);
  if (kmsKeyArn !== undefined && !/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/.test(kmsKeyArn)) {
    throw new Error(`upstreamKeySecretKmsKeyArn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>; not an alias), not "${kmsKeyArn}".`);
  }
  const encryptionKey = kmsKeyArn ? Key.fromKeyArn(scope, 'UpstreamKeyEncryptionKey', kmsKeyArn) : undefined;
  // A partial ARN is granted with Secrets Manager's suffix as a wildcard (`-??????`), by CDK.
  return Secret.fromSecretAttributes(scope, 'UpstreamKey', form === 'complete' ? { secretCompleteArn: arn, encryptionKey } : { secretPartialArn: arn, encryptionKey });
}
