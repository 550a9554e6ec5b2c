import { Duration, SecretValue, Token } from 'aws-cdk-lib';
import type { TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type { Rule } from 'aws-cdk-lib/aws-events';
import type { RestApi } from 'aws-cdk-lib/aws-apigateway';
import { Bucket, HttpMethods, type IBucket } from 'aws-cdk-lib/aws-s3';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import type { CfnWebACL } from 'aws-cdk-lib/aws-wafv2';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import { GenerationEvents } from './generation-events.ts';
import { Construct } from 'constructs';
import { Storage } from './storage.ts';
import { GenerationWorkflow } from './workflow.ts';
import { GatewayApi } from './api.ts';
import { Observability } from './observability.ts';
import type { GatewayFunction } from './gateway-function.ts';
import type { ClientRateLimits } from './api-protection.ts';
import type { CapacitySettings, KeyLimitSettings, PollingSettings, UpstreamSettings } from './function-environment.ts';
import { acknowledge } from '../nag.ts';
import { CORS_MAX_AGE_SECONDS, parseAllowedOrigins } from '../../functions/commons/domain/cors.ts';
import { UPSTREAM_KEY_PLACEHOLDER_SECRET, secretArnForm } from '../../functions/commons/domain/upstream-key.ts';

/** The stage's throttle: a ceiling for all clients together, not a fair share. */
export interface ApiThrottle {
  /** Requests a second, across all clients. @default 500 */
  readonly rateLimit?: number;
  /** Requests above the rate in a burst. @default 1000 */
  readonly burstLimit?: number;
}

/**
 * Everything the gateway can be told. Each prop is checked when the construct is built: its shape here, its
 * value by the part that uses it (the message names the CDK context key the app reads it from, where there
 * is one), so a bad value fails the synth rather than the deployed functions' cold start.
 */
export interface LumaVideoGatewayProps {
  /**
   * The upstream's address, the model, resolution and duration of a request that names none, what a
   * request may name, and how often a generation the upstream failed on its own side is submitted again.
   * @default the official Luma API (`https://api.lumalabs.ai/dream-machine/v1`), ray-2 at 720p for 5s, every
   * model, resolution and duration allowed, 1 resubmit
   */
  readonly upstream?: UpstreamSettings;
  /**
   * An existing Secrets Manager secret holding the Luma API key (plain, or JSON `{"apiKey": "…"}`). One
   * imported by a partial ARN is granted with the 6 characters Secrets Manager appends as a wildcard; its
   * `encryptionKey`, if it has a customer-managed one, is granted for decryption through Secrets Manager only.
   * @default a new secret holding the placeholder `{"apiKey": "REPLACE_ME"}`: put your key in it
   */
  readonly upstreamKey?: ISecret;
  /** How long a task may take from admission to its stored video before it fails with `deadline_exceeded`. @default 30 minutes */
  readonly generationTimeout?: Duration;
  /**
   * The shortest wait between two polls when no callback is expected, and between tries of a deferred
   * submit: whole seconds, 1 to 3600. @default 3 seconds
   */
  readonly pollInterval?: Duration;
  /**
   * When the workflow reads the upstream: whether the upstream calls back (then polling is a sparse
   * fallback), the fallback's interval, the prior typical time adaptive polling starts from, and the
   * ceiling of polls per task. @default callbacks expected, a poll at least every 60 s, a prior of 120 s, 40 polls
   */
  readonly polling?: PollingSettings;
  /**
   * The upstream account's limits, which the gateway keeps below, and how long a task may wait for a slot.
   * @default 10 generations in flight, 20 creates a minute (Luma's Build tier), 24 hours in the queue
   */
  readonly capacity?: CapacitySettings;
  /**
   * Where the copy function may download assets from: host patterns (`storage.cdn-luma.com`, `*.cdn-luma.com`,
   * https only, public addresses only) and explicit origins (`http://10.0.0.5:8080`, exactly that origin).
   * @default the Luma API's asset hosts (`*.cdn-luma.com`)
   */
  readonly assetHostAllowlist?: readonly string[];
  /** Limits of keys that have none of their own. @default 600 generations a minute, 1000 queued, no cap on running */
  readonly keyLimits?: KeyLimitSettings;
  /** How often the reconciler looks for tasks whose workflow is gone, and for lost slots: whole minutes. @default 5 minutes */
  readonly reconcileInterval?: Duration;
  /**
   * Where the upstream reaches the API (a custom domain, https): the base of each task's marker URL.
   * @default the REST API's own https endpoint, with the stage
   */
  readonly publicBaseUrl?: string;
  /** Per-client limits at the edge, in AWS WAF. @default 3000 requests a minute per key, 6000 per address */
  readonly clientLimits?: ClientRateLimits;
  /** The API stage's throttle, a ceiling for all clients together. @default 500 requests a second, bursts of 1000 */
  readonly apiThrottle?: ApiThrottle;
  /**
   * Whether to set API Gateway's account-wide CloudWatch role for the region (`AWS::ApiGateway::Account`),
   * without which a REST API stage writes no logs: false when it is managed elsewhere. @default true
   */
  readonly setAccountCloudWatchRole?: boolean;
  /**
   * Browser origins (`https://app.example.com`) that may call the API and PUT uploads from a page: the API
   * answers their preflights and names them in `Access-Control-Allow-Origin`, and the bucket lets them PUT
   * to presigned upload URLs. @default none: no CORS
   */
  readonly corsAllowedOrigins?: readonly string[];
  /**
   * The EventBridge bus every generation's changes are published to (`Generation Submitted`, `Processing`,
   * `Completed`, `Failed`; source `luma-video-gateway`). S3's own events of the bucket go to the default bus
   * whatever this is. @default the account's default bus
   */
  readonly eventBus?: IEventBus;
  /**
   * An existing bucket to store the videos in (the gateway writes under `generations/` and `inputs/`). A
   * bucket the gateway does not create is not configured by it: turn on its EventBridge notifications and
   * expire `inputs/` (7 days) and `inputs/uploads/` (1 day) yourself. With `corsAllowedOrigins`, the upload
   * CORS rule is added to a bucket defined in this app; an imported one (`Bucket.fromBucketName`) is refused.
   * @default a new bucket, private, encrypted, TLS only, access-logged, with those settings
   */
  readonly bucket?: IBucket;
  /** An email address the alarms are sent to (SNS asks it to confirm). @default none: subscribe to the alarm topic yourself */
  readonly alarmEmail?: string;
}

/** The functions of the gateway, by role. */
export interface GatewayFunctions {
  /** Serves the REST API. */
  readonly api: GatewayFunction;
  /** Submits an admitted task and polls the upstream, one workflow turn. */
  readonly poll: GatewayFunction;
  /** Streams a finished video and its thumbnail into the bucket. */
  readonly copy: GatewayFunction;
  /** Records why a task failed. */
  readonly recordFailure: GatewayFunction;
  /** Repairs what a lost workflow or a lost slot left behind, on a schedule. */
  readonly reconcile: GatewayFunction;
  /** Makes one attempt of a webhook delivery, in the delivery workflow. */
  readonly deliverWebhook: GatewayFunction;
}

/**
 * The Luma video gateway: storage (task table, video bucket and its access logs), the generation workflow
 * (state machine, its functions and the reconciler) and the public API (REST API, its function, the web ACL),
 * with the upstream key's secret. Every tunable is a prop with a documented default.
 *
 * The table and the bucket are retained when the stack is deleted, and a change of their logical ids would
 * replace them with new, empty ones: their ids are pinned by test/infra/logical-ids.test.ts.
 */
export class LumaVideoGateway extends Construct {
  public readonly table: TableV2;
  public readonly bucket: IBucket;
  /** Where the bucket's server access logs go; none when the bucket was given. */
  public readonly accessLogBucket?: Bucket;
  /** The secret holding the Luma API key: the one given, or the placeholder this construct created. */
  public readonly upstreamKey: ISecret;
  public readonly stateMachine: StateMachine;
  public readonly restApi: RestApi;
  /** The API's base URL, with the stage (and a trailing slash). */
  public readonly url: string;
  /** The AWS WAF web ACL on the API's stage. */
  public readonly webAcl: CfnWebACL;
  public readonly functions: GatewayFunctions;
  /** The EventBridge rule that runs the reconciler. */
  public readonly reconcileSchedule: Rule;
  /** The bus the gateway publishes to: rules of your own go on it (see ExampleConsumer). */
  public readonly eventBus: IEventBus;
  /** The webhook delivery workflow. */
  public readonly deliveryStateMachine: StateMachine;
  /** The parts, for what the fields above do not reach. */
  public readonly storage: Storage;
  public readonly workflow: GenerationWorkflow;
  public readonly api: GatewayApi;
  public readonly events: GenerationEvents;
  /** The dashboard, the alarms and the topic they notify. */
  public readonly observability: Observability;

  constructor(scope: Construct, id: string, props: LumaVideoGatewayProps = {}) {
    super(scope, id);
    checkProps(props);
    const upstream = props.upstream ?? {};
    this.upstreamKey = props.upstreamKey ?? this.placeholderUpstreamKey();
    const corsAllowedOrigins = parseAllowedOrigins(props.corsAllowedOrigins, 'corsAllowedOrigins');

    this.storage = new Storage(this, 'Storage', { bucket: props.bucket });
    if (corsAllowedOrigins.length > 0) {
      if (!(this.storage.bucket instanceof Bucket)) {
        throw new Error('LumaVideoGateway: corsAllowedOrigins needs a CORS rule on the bucket, which CDK can add only to a bucket defined in this app, not to an imported one: add the rule to your bucket (PUT from those origins, header content-type, prefix inputs/uploads/) and leave corsAllowedOrigins unset.');
      }
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
      polling: props.polling,
      assetHostAllowlist: props.assetHostAllowlist,
      capacity: props.capacity,
      reconcileInterval: props.reconcileInterval,
    });
    this.api = new GatewayApi(this, 'Api', {
      table: this.storage.table,
      bucket: this.storage.bucket,
      stateMachine: this.workflow.stateMachine,
      stateMachineArnFromName: this.workflow.stateMachineArnFromName,
      pollingEnvironment: this.workflow.pollingEnvironment,
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
    // Every function that changes a task publishes the change.
    this.events = new GenerationEvents(this, 'Events', {
      table: this.storage.table,
      bucket: this.storage.bucket,
      eventBus: props.eventBus,
      publishers: [this.api.handler, this.workflow.pollFunction, this.workflow.copyFunction, this.workflow.recordFailureFunction, this.workflow.reconcileFunction],
      api: this.api.handler,
    });

    this.table = this.storage.table;
    this.bucket = this.storage.bucket;
    this.accessLogBucket = this.storage.accessLogBucket;
    this.stateMachine = this.workflow.stateMachine;
    this.reconcileSchedule = this.workflow.reconcileSchedule;
    this.restApi = this.api.restApi;
    this.url = this.api.url;
    this.webAcl = this.api.protection.webAcl;
    this.functions = {
      api: this.api.handler,
      poll: this.workflow.pollFunction,
      copy: this.workflow.copyFunction,
      recordFailure: this.workflow.recordFailureFunction,
      reconcile: this.workflow.reconcileFunction,
      deliverWebhook: this.events.deliverFunction,
    };
    this.eventBus = this.events.eventBus;
    this.deliveryStateMachine = this.events.deliveryStateMachine;
    this.observability = new Observability(this, 'Observability', {
      functions: {
        Api: this.functions.api,
        Poll: this.functions.poll,
        Copy: this.functions.copy,
        RecordFailure: this.functions.recordFailure,
        Reconcile: this.functions.reconcile,
        DeliverWebhook: this.events.deliverFunction,
      },
      stateMachine: this.stateMachine,
      restApi: this.restApi,
      reconcileInterval: props.reconcileInterval,
      alarmEmail: props.alarmEmail,
    });
  }

  private placeholderUpstreamKey(): Secret {
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

/**
 * The shape of every prop, and the values no part checks: a JavaScript caller's `'false'` or `30` must not
 * pass as `true` or fail later as a TypeError. Values the parts check (limits, choices, durations' bounds)
 * are left to them, so each rule lives once.
 */
function checkProps(props: LumaVideoGatewayProps): void {
  const fail = (name: string, expected: string, value: unknown): never => {
    throw new Error(`LumaVideoGateway: ${name} must be ${expected}, not ${describe(value)}.`);
  };
  /** Fails on the first of `values` that is set and not what `is` accepts. */
  const each = (values: Record<string, unknown>, expected: string, is: (value: unknown) => boolean): void => {
    for (const [name, value] of Object.entries(values)) if (value !== undefined && !is(value)) fail(name, expected, value);
  };
  const objects = {
    upstream: props.upstream,
    capacity: props.capacity,
    keyLimits: props.keyLimits,
    clientLimits: props.clientLimits,
    apiThrottle: props.apiThrottle,
    polling: props.polling,
  };
  each(objects, 'an object', (value) => value !== null && typeof value === 'object' && !Array.isArray(value));
  const durations = {
    generationTimeout: props.generationTimeout,
    pollInterval: props.pollInterval,
    reconcileInterval: props.reconcileInterval,
    'capacity.queueTimeout': props.capacity?.queueTimeout,
    'polling.callbackFallback': props.polling?.callbackFallback,
    'polling.typicalPrior': props.polling?.typicalPrior,
  };
  each(durations, 'a Duration', (value) => value instanceof Duration);
  const numbers = {
    'upstream.resubmits': props.upstream?.resubmits,
    'capacity.maxConcurrent': props.capacity?.maxConcurrent,
    'capacity.maxCreatesPerMinute': props.capacity?.maxCreatesPerMinute,
    'keyLimits.ratePerMinute': props.keyLimits?.ratePerMinute,
    'keyLimits.maxQueued': props.keyLimits?.maxQueued,
    'keyLimits.maxConcurrent': props.keyLimits?.maxConcurrent,
    'clientLimits.requestsPerKey': props.clientLimits?.requestsPerKey,
    'clientLimits.requestsPerAddress': props.clientLimits?.requestsPerAddress,
    'apiThrottle.rateLimit': props.apiThrottle?.rateLimit,
    'apiThrottle.burstLimit': props.apiThrottle?.burstLimit,
    'polling.maxPollsPerTask': props.polling?.maxPollsPerTask,
  };
  each(numbers, 'a number', (value) => typeof value === 'number');
  each({ bucket: props.bucket }, 'an S3 bucket (an IBucket)', (value) => typeof (value as Partial<IBucket> | null)?.bucketName === 'string');
  const strings = {
    'upstream.baseUrl': props.upstream?.baseUrl,
    'upstream.model': props.upstream?.model,
    'upstream.resolution': props.upstream?.resolution,
    'upstream.duration': props.upstream?.duration,
    publicBaseUrl: props.publicBaseUrl,
    alarmEmail: props.alarmEmail,
  };
  each(strings, 'a string', (value) => typeof value === 'string');
  const isStringList = (value: unknown) => Array.isArray(value) && value.every((entry) => typeof entry === 'string');
  const upstreamLists = {
    'upstream.allowedModels': props.upstream?.allowedModels,
    'upstream.allowedResolutions': props.upstream?.allowedResolutions,
    'upstream.allowedDurations': props.upstream?.allowedDurations,
  };
  each(upstreamLists, 'a list of strings, or one string of entries separated by commas', (value) => typeof value === 'string' || isStringList(value));
  each({ assetHostAllowlist: props.assetHostAllowlist, corsAllowedOrigins: props.corsAllowedOrigins }, 'a list of strings', isStringList);
  each({ setAccountCloudWatchRole: props.setAccountCloudWatchRole, 'polling.upstreamCallbacks': props.polling?.upstreamCallbacks }, 'true or false', (value) => typeof value === 'boolean');
  if (props.eventBus !== undefined && typeof (props.eventBus as Partial<IEventBus> | null)?.eventBusArn !== 'string') {
    fail('eventBus', 'an EventBridge bus (an IEventBus)', props.eventBus);
  }

  const baseUrl = props.upstream?.baseUrl;
  if (baseUrl !== undefined && !Token.isUnresolved(baseUrl) && !isHttpUrl(baseUrl)) fail('upstream.baseUrl', 'an absolute http or https URL', baseUrl);
  if (props.upstreamKey !== undefined) {
    const arn: unknown = (props.upstreamKey as Partial<ISecret> | null)?.secretArn;
    if (typeof arn !== 'string') fail('upstreamKey', 'a Secrets Manager secret (an ISecret)', props.upstreamKey);
    else if (!Token.isUnresolved(arn) && !secretArnForm(arn)) {
      fail('upstreamKey', 'a Secrets Manager secret, whose ARN is arn:aws:secretsmanager:<region>:<account>:secret:<name>', arn);
    }
  }
}

function isHttpUrl(value: string): boolean {
  try {
    const { protocol } = new URL(value);
    return protocol === 'https:' || protocol === 'http:';
  } catch {
    return false;
  }
}

function describe(value: unknown): string {
  if (value instanceof Duration) return value.toString();
  if (typeof value === 'string') return `"${value}"`;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return 'an object';
  return JSON.stringify(value) ?? String(value);
}
