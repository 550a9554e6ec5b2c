import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { HttpApi, HttpRoute, HttpRouteKey, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { GatewayFunction } from './gateway-function.ts';
import { acknowledge } from '../nag.ts';
import {
  capacityEnvironment,
  grantObjects,
  grantSecretValue,
  grantTable,
  keyLimitEnvironment,
  type KeyLimitSettings,
  offeredChoicesEnvironment,
  upstreamEnvironment,
  type CapacitySettings,
  type UpstreamSettings,
} from './grants.ts';

export interface GatewayApiProps {
  readonly table: ITableV2;
  readonly bucket: IBucket;
  readonly stateMachine: IStateMachine;
  readonly upstream: UpstreamSettings;
  readonly upstreamKey: ISecret;
  readonly generationTimeout: Duration;
  /** Must match the workflow's: both sides of the upstream slots count the same slots. */
  readonly capacity?: CapacitySettings;
  /** Defaults for keys without limits of their own. @default 30 generations a minute, 5 unfinished */
  readonly keyLimits?: KeyLimitSettings;
  /** Lifetime of the video and thumbnail links in GET responses. @default 1 hour */
  readonly presignExpiry?: Duration;
  /** Steady-state requests per second across all clients. @default 50 */
  readonly rateLimit?: number;
  /** Burst of requests above the rate. @default 100 */
  readonly burstLimit?: number;
  /**
   * Where the upstream reaches the API: the base of each task's marker and callback URL. Set it when
   * clients use a custom domain. @default the HTTP API's own https endpoint
   */
  readonly publicBaseUrl?: string;
}

/**
 * The public HTTPS API: an HTTP API whose `$default` route sends every request to one Lambda, which owns
 * routing, so unknown paths and methods get the same JSON errors as the rest of the API.
 */
export class GatewayApi extends Construct {
  public readonly httpApi: HttpApi;
  public readonly handler: GatewayFunction;
  public readonly url: string;

  constructor(scope: Construct, id: string, props: GatewayApiProps) {
    super(scope, id);
    // The API exists before its function, whose environment names the API's own URL (the base of every
    // task's marker); the route that sends requests to the function comes after both.
    this.httpApi = new HttpApi(this, 'HttpApi', {
      description: 'Luma video generation gateway',
      createDefaultStage: false,
    });
    this.handler = new GatewayFunction(this, 'ApiFunction', {
      handlerDir: 'api',
      description: 'Seed-compatible Luma generations API',
      memorySize: 512,
      timeout: Duration.seconds(29), // API Gateway gives up at 30 s
      environment: {
        TABLE_NAME: props.table.tableName,
        BUCKET_NAME: props.bucket.bucketName,
        STATE_MACHINE_ARN: props.stateMachine.stateMachineArn,
        GENERATION_TIMEOUT_SECONDS: String(props.generationTimeout.toSeconds()),
        PRESIGN_EXPIRY_SECONDS: String((props.presignExpiry ?? Duration.hours(1)).toSeconds()),
        PUBLIC_BASE_URL: props.publicBaseUrl ?? this.httpApi.apiEndpoint,
        ...capacityEnvironment(props.capacity ?? {}),
        ...keyLimitEnvironment(props.keyLimits ?? {}),
        ...upstreamEnvironment(props.upstream, props.upstreamKey),
        ...offeredChoicesEnvironment(props.upstream),
      },
    });
    grantTable(this.handler, props.table, {
      capacity: true,
      puts: ['TASK', 'IDEMPOTENCY', 'UPSTREAM'],
      updates: ['SLOT', 'RATE', 'OWNER', 'KEYRATE', 'APIKEY'],
      deletes: ['IDEMPOTENCY'], // releasing the claim of a request refused with 429 or failed inside the gateway
    });
    grantObjects(this.handler, props.bucket, ['s3:PutObject', 's3:GetObject'], 'inputs/*');
    grantObjects(this.handler, props.bucket, ['s3:GetObject'], 'generations/*'); // to presign output links
    grantSecretValue(this.handler, props.upstreamKey);
    props.stateMachine.grantStartExecution(this.handler);
    // Same id as HttpApi's own `defaultIntegration` gives it, so existing deployments keep their route.
    new HttpRoute(this.httpApi, 'DefaultRoute', {
      httpApi: this.httpApi,
      routeKey: HttpRouteKey.DEFAULT,
      integration: new HttpLambdaIntegration('ApiIntegration', this.handler),
    });
    acknowledge(
      this.httpApi,
      'APIG4',
      'Clients authenticate with per-tenant API keys (Authorization: Bearer), checked by the API function against their SHA-256 in the table on every request; ' +
        'there is no IAM or Cognito caller, and an authorizer would only add a second lookup of the same key.',
    );
    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.rateLimit ?? 50, burstLimit: props.burstLimit ?? 100 },
      accessLogSettings: { destination: new LogGroupLogDestination(accessLogs) },
    });
    this.url = stage.url;
  }
}
