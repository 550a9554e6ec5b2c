import { CfnOutput, Duration, SecretValue, Stack, type StackProps } from 'aws-cdk-lib';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { Storage } from './constructs/storage.ts';
import { GenerationWorkflow } from './constructs/workflow.ts';
import { GatewayApi } from './constructs/api.ts';
import { Observability } from './constructs/observability.ts';
import { acknowledge } from './nag.ts';
import type { CapacitySettings, KeyLimitSettings, UpstreamSettings } from './constructs/grants.ts';
import { UPSTREAM_KEY_PLACEHOLDER_SECRET, secretArnForm } from '../functions/commons/domain/upstream-key.ts';
import type { ClientRateLimits } from './constructs/api-protection.ts';
import { HttpMethods } from 'aws-cdk-lib/aws-s3';
import { CORS_MAX_AGE_SECONDS, parseAllowedOrigins } from '../functions/commons/domain/cors.ts';

export interface GatewayStackProps extends StackProps {
  /** Upstream address and model. @default the official Luma API, model ray-2 */
  readonly upstream?: UpstreamSettings;
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
  /** @default 30 minutes */
  readonly generationTimeout?: Duration;
  /** @default 10 seconds */
  readonly pollInterval?: Duration;
  /**
   * The upstream account's limits, and how long a task may wait for a slot. @default 10 generations in
   * flight, 20 creates a minute (Luma Build tier), 24 hours in the queue
   */
  readonly capacity?: CapacitySettings;
  /** Where the copy function may download assets from (see WorkflowProps). @default the Luma API's asset hosts */
  readonly assetHostAllowlist?: readonly string[];
  /** Limits of keys that have none of their own. @default 600 generations a minute, 1000 queued, no cap on running */
  readonly keyLimits?: KeyLimitSettings;
  /** How often the reconciler runs. @default 5 minutes */
  readonly reconcileInterval?: Duration;
  /** Where the upstream reaches the API (a custom domain). @default the REST API's own endpoint */
  readonly publicBaseUrl?: string;
  /** Per-client limits at the edge, in AWS WAF. @default 600 requests a minute per key, 1200 per address */
  readonly clientLimits?: ClientRateLimits;
  /** The API stage's throttle, a ceiling for all clients together. @default 500 requests a second, bursts of 1000 */
  readonly apiThrottle?: { readonly rateLimit?: number; readonly burstLimit?: number };
  /** Whether the stack sets API Gateway's account-wide CloudWatch role (see GatewayApiProps). @default true */
  readonly setAccountCloudWatchRole?: boolean;
  /**
   * Browser origins (`https://app.example.com`) that may call the API and PUT uploads from a page: the API
   * answers their preflights and names them in `Access-Control-Allow-Origin`, and the bucket lets them PUT
   * to presigned upload URLs. @default none: no CORS
   */
  readonly corsAllowedOrigins?: readonly string[];
  /** An email address the alarms are sent to (SNS asks it to confirm). @default none: subscribe to the AlarmTopic output yourself */
  readonly alarmEmail?: string;
}

/** Storage, workflow and API, composed; every tunable is a prop with a documented default. */
export class GatewayStack extends Stack {
  public readonly storage: Storage;
  public readonly workflow: GenerationWorkflow;
  public readonly api: GatewayApi;
  public readonly upstreamKey: ISecret;
  public readonly observability: Observability;

  constructor(scope: Construct, id: string, props: GatewayStackProps = {}) {
    super(scope, id, props);
    const upstream = props.upstream ?? {};
    this.upstreamKey = this.upstreamKeySecret(props);

    const corsAllowedOrigins = parseAllowedOrigins(props.corsAllowedOrigins, 'corsAllowedOrigins');
    this.storage = new Storage(this, 'Storage');
    if (corsAllowedOrigins.length > 0) {
      // A page PUTs its upload straight to the bucket, with the presigned URL's signed Content-Type: S3
      // answers the preflight and the PUT for these origins only, and only for uploads.
      this.storage.bucket.addCorsRule({
        id: 'browser-uploads',
        allowedOrigins: corsAllowedOrigins,
        allowedMethods: [HttpMethods.PUT],
        allowedHeaders: ['content-type'],
        maxAge: CORS_MAX_AGE_SECONDS,
      });
    }
    this.workflow = new GenerationWorkflow(this, 'Workflow', {
      table: this.storage.table,
      bucket: this.storage.bucket,
      upstream,
      upstreamKey: this.upstreamKey,
      generationTimeout: props.generationTimeout,
      pollInterval: props.pollInterval,
      assetHostAllowlist: props.assetHostAllowlist,
      capacity: props.capacity,
      reconcileInterval: props.reconcileInterval,
    });
    this.api = new GatewayApi(this, 'Api', {
      table: this.storage.table,
      bucket: this.storage.bucket,
      stateMachine: this.workflow.stateMachine,
      upstream,
      upstreamKey: this.upstreamKey,
      generationTimeout: this.workflow.generationTimeout,
      capacity: props.capacity,
      keyLimits: props.keyLimits,
      publicBaseUrl: props.publicBaseUrl,
      clientLimits: props.clientLimits,
      rateLimit: props.apiThrottle?.rateLimit,
      burstLimit: props.apiThrottle?.burstLimit,
      setAccountCloudWatchRole: props.setAccountCloudWatchRole,
      corsAllowedOrigins,
    });

    this.observability = new Observability(this, 'Observability', {
      functions: {
        Api: this.api.handler,
        Poll: this.workflow.pollFunction,
        Copy: this.workflow.copyFunction,
        RecordFailure: this.workflow.recordFailureFunction,
        Reconcile: this.workflow.reconcileFunction,
      },
      stateMachine: this.workflow.stateMachine,
      restApi: this.api.restApi,
      reconcileInterval: props.reconcileInterval,
      alarmEmail: props.alarmEmail,
    });

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the API' });
    new CfnOutput(this, 'BucketName', { value: this.storage.bucket.bucketName, description: 'Where videos are stored' });
    new CfnOutput(this, 'TableName', { value: this.storage.table.tableName, description: 'Tasks and API key hashes' });
    new CfnOutput(this, 'UpstreamKeySecret', { value: this.upstreamKey.secretArn, description: 'Put the Luma API key in this secret' });
    new CfnOutput(this, 'StateMachineArn', { value: this.workflow.stateMachine.stateMachineArn });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.observability.topic.topicArn, description: 'The alarms notify this SNS topic: subscribe to it' });
    new CfnOutput(this, 'DashboardName', { value: this.observability.dashboard.dashboardName, description: 'The CloudWatch dashboard of the gateway' });
  }

  private upstreamKeySecret(props: GatewayStackProps): ISecret {
    const { upstreamKeySecretArn: arn, upstreamKeySecretKmsKeyArn: kmsKeyArn } = props;
    if (kmsKeyArn !== undefined && !arn) {
      throw new Error(
        'upstreamKeySecretKmsKeyArn is the KMS key of the secret named by upstreamKeySecretArn; set both, or neither ' +
          '(the secret the stack creates uses the AWS-managed key).',
      );
    }
    if (arn) {
      const form = secretArnForm(arn);
      if (!form) throw new Error(`upstreamKeySecretArn must be a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>), not "${arn}".`);
      if (kmsKeyArn !== undefined && !/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/.test(kmsKeyArn)) {
        throw new Error(`upstreamKeySecretKmsKeyArn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>; not an alias), not "${kmsKeyArn}".`);
      }
      const encryptionKey = kmsKeyArn ? Key.fromKeyArn(this, 'UpstreamKeyEncryptionKey', kmsKeyArn) : undefined;
      // A partial ARN is granted with Secrets Manager's suffix as a wildcard (`-??????`), by CDK.
      return Secret.fromSecretAttributes(this, 'UpstreamKey', form === 'complete' ? { secretCompleteArn: arn, encryptionKey } : { secretPartialArn: arn, encryptionKey });
    }
    const secret = new Secret(this, 'UpstreamKey', {
      description: 'Luma API key used by the video gateway: replace the placeholder\'s REPLACE_ME with your key.',
      // A fixed placeholder, not a generated value: random text may start with "{" and read as broken JSON,
      // and the functions recognise this one, failing tasks with a message that names the secret to set.
      secretStringValue: SecretValue.unsafePlainText(UPSTREAM_KEY_PLACEHOLDER_SECRET),
    });
    acknowledge(
      secret,
      'SMG4',
      "The secret is a Luma API key: only Luma's dashboard can issue a new one, so Secrets Manager cannot rotate it. " +
        'Rotation is an operator step (new key in Luma, put-secret-value, delete the old key), described in SECURITY.md.',
    );
    return secret;
  }
}
