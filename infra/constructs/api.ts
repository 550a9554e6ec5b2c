import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  AuthorizationType,
  CfnAccount,
  EndpointType,
  Integration,
  IntegrationType,
  LogGroupLogDestination,
  MethodLoggingLevel,
  RestApi,
} from 'aws-cdk-lib/aws-apigateway';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyDocument, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { GatewayFunction } from './gateway-function.ts';
import { acknowledge, resourceFinding } from '../nag.ts';
import { ApiProtection, type ClientRateLimits } from './api-protection.ts';
import { addGatewayResponses } from './gateway-responses.ts';
import { publicBaseUrlProblem } from '../../functions/commons/domain/upstream-marker.ts';
import { grantObjects, grantSecretValue, grantTable, grantWake } from './permissions.ts';
import {
  capacityEnvironment,
  keyLimitEnvironment,
  type KeyLimitSettings,
  offeredChoicesEnvironment,
  upstreamEnvironment,
  type CapacitySettings,
  type UpstreamSettings,
} from './function-environment.ts';
import { checkSetting, defaultOf, settingsEnvironment } from '../../functions/commons/settings/reader.ts';

export interface GatewayApiProps {
  readonly table: ITableV2;
  readonly bucket: IBucket;
  readonly stateMachine: IStateMachine;
  /**
   * The state machine's ARN from its literal name (GenerationWorkflow.stateMachineArnFromName): the waits a
   * callback ends are its executions'.
   */
  readonly stateMachineArnFromName: string;
  /** The poll schedule's variables (GenerationWorkflow.pollingEnvironment): a callback reads the upstream as a poll would. */
  readonly pollingEnvironment: Record<string, string>;
  readonly upstream: UpstreamSettings;
  readonly upstreamKey: ISecret;
  readonly generationTimeout: Duration;
  /** Must match the workflow's: both sides of the upstream slots count the same slots. */
  readonly capacity?: CapacitySettings;
  /** Defaults for keys without limits of their own. @default 600 generations a minute, 1000 queued, no cap on running */
  readonly keyLimits?: KeyLimitSettings;
  /** Lifetime of the video and thumbnail links in GET responses. @default 1 hour */
  readonly presignExpiry?: Duration;
  /**
   * The stage's throttle, in requests per second across all clients: a ceiling that protects the account
   * (its Lambda concurrency, its costs), not a fair share. Each client's own limits are the web ACL's,
   * evaluated before it (`clientLimits`). @default 500
   */
  readonly rateLimit?: number;
  /** Burst of requests above the rate. @default 1000 */
  readonly burstLimit?: number;
  /** Per-client limits at the edge (AWS WAF). @default 3000 requests a minute per key, 6000 per address */
  readonly clientLimits?: ClientRateLimits;
  /**
   * Whether the stack sets API Gateway's CloudWatch role for the account and region (`AWS::ApiGateway::Account`),
   * without which a REST API stage can write no logs. It is one setting shared by every REST API of the account
   * in the region: set false when it is managed elsewhere. The role is retained when the stack is deleted, so
   * other APIs that log through it keep logging. @default true
   */
  readonly setAccountCloudWatchRole?: boolean;
  /**
   * Where the upstream reaches the API: the base of each task's marker and callback URL. Set it when
   * clients use a custom domain. @default the REST API's own https endpoint, with the stage
   */
  readonly publicBaseUrl?: string;
  /**
   * Browser origins the API answers CORS for (the function does, preflights included; see
   * functions/commons/domain/cors.ts). API Gateway's and WAF's own answers name the origin only when there is
   * exactly one: theirs are static and cannot choose among several. @default none
   */
  readonly corsAllowedOrigins?: readonly string[];
}

/** The one stage: its name is the first segment of the API's URL path (`…/prod/luma/generations`). */
export const API_STAGE_NAME = 'prod';
/** A REST API's default integration timeout (more needs a quota increase); the function's timeout matches it. */
const INTEGRATION_TIMEOUT = Duration.seconds(29);

/**
 * The public HTTPS API: a regional REST API whose `/` and `/{proxy+}` (any method) send every request to one
 * Lambda, which owns routing, so unknown paths and methods get the same JSON errors as the rest of the API.
 * An AWS WAF web ACL on its stage limits each client (ApiProtection); a REST API rather than an HTTP API
 * because WAF cannot be attached to an HTTP API (the README's "Throttling" says why not CloudFront).
 */
export class GatewayApi extends Construct {
  public readonly restApi: RestApi;
  public readonly handler: GatewayFunction;
  public readonly protection: ApiProtection;
  /** The API's base URL, with the stage (and a trailing slash). */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: GatewayApiProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const rateLimit = checkSetting('apiRateLimit', props.rateLimit ?? defaultOf('apiRateLimit'));
    const burstLimit = checkSetting('apiBurstLimit', props.burstLimit ?? defaultOf('apiBurstLimit'));
    const upstreamEnv = upstreamEnvironment(props.upstream, props.upstreamKey);
    if (props.publicBaseUrl !== undefined) {
      // The function refuses at cold start what this refuses: better the synth.
      const problem = publicBaseUrlProblem(props.publicBaseUrl, upstreamEnv.LUMA_BASE_URL!);
      if (problem) throw new Error(`publicBaseUrl "${props.publicBaseUrl}" is refused: ${problem}`);
    }
    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.restApi = new RestApi(this, 'RestApi', {
      restApiName: stack.stackName,
      description: 'Luma video generation gateway',
      endpointConfiguration: { types: [EndpointType.REGIONAL] },
      // The account's CloudWatch role is set below, deliberately, not by RestApi's built-in (a role with an AWS managed policy).
      cloudWatchRole: false,
      defaultMethodOptions: { authorizationType: AuthorizationType.NONE },
      // Every body reaches the function Base64-encoded, whatever its Content-Type: 4/3 of its size, always, so
      // the body limit can be set to what Lambda's 6 MB event carries (domain/payload-limits.ts). As text it
      // would be JSON-escaped into the event, up to 6 bytes a byte for control characters. The function's
      // answers are text (isBase64Encoded false) and pass as they are.
      binaryMediaTypes: ['*/*'],
      deployOptions: {
        stageName: API_STAGE_NAME,
        throttlingRateLimit: rateLimit,
        throttlingBurstLimit: burstLimit,
        // Errors only, and never request or response data (headers and bodies carry keys and prompts).
        loggingLevel: MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        // X-Ray: each request's trace starts at the stage and follows into the function (active tracing).
        tracingEnabled: true,
        accessLogDestination: new LogGroupLogDestination(accessLogs),
        accessLogFormat: AccessLogFormat.custom(ACCESS_LOG_FORMAT),
      },
    });
    const corsOrigins = props.corsAllowedOrigins ?? [];
    const soleCorsOrigin = corsOrigins.length === 1 ? corsOrigins[0] : undefined;
    // What API Gateway answers itself (throttled, timed out, refused by Lambda) in the API's error shape.
    addGatewayResponses(this.restApi, { corsOrigin: soleCorsOrigin });
    // The function is told the API's own URL, built from the REST API's id and the stage's name, not from the
    // stage resource: the stage depends on the deployment, which depends on the methods, which name the function.
    const ownUrl = `https://${this.restApi.restApiId}.execute-api.${stack.region}.${stack.urlSuffix}/${API_STAGE_NAME}`;
    this.handler = new GatewayFunction(this, 'ApiFunction', {
      handlerDir: 'api',
      description: 'Aggregator-compatible Luma generations API',
      memorySize: 512,
      timeout: INTEGRATION_TIMEOUT, // API Gateway gives up at 29 s
      environment: {
        ...settingsEnvironment({
          tableName: props.table.tableName,
          bucketName: props.bucket.bucketName,
          stateMachineArn: props.stateMachine.stateMachineArn,
          generationTimeout: props.generationTimeout.toSeconds(),
          presignExpiry: props.presignExpiry?.toSeconds() ?? defaultOf('presignExpiry'),
          publicBaseUrl: props.publicBaseUrl ?? ownUrl,
        }),
        ...capacityEnvironment(props.capacity ?? {}),
        ...keyLimitEnvironment(props.keyLimits ?? {}),
        ...upstreamEnv,
        ...offeredChoicesEnvironment(props.upstream),
        ...props.pollingEnvironment,
        ...settingsEnvironment({ corsAllowedOrigins: corsOrigins.length > 0 ? corsOrigins : undefined }),
      },
    });
    grantTable(this.handler, props.table, {
      capacity: true,
      ownerTasks: true, // GET /luma/generations
      puts: ['TASK', 'IDEMPOTENCY', 'UPSTREAM', 'UPLOAD', 'STATS'],
      updates: ['SLOT', 'RATE', 'OWNER', 'KEYRATE', 'APIKEY'],
      // The claim of a request refused with 429 or failed inside the gateway; a finished task its owner deletes.
      deletes: ['IDEMPOTENCY', 'TASK'],
    });
    // inputs/ holds the keyframes it stores for tasks and the uploads it presigns PUTs for (inputs/uploads/,
    // signed with this role's credentials) and reads back to check. Deleting a task deletes its keyframes
    // and outputs.
    grantObjects(this.handler, props.bucket, ['s3:PutObject', 's3:GetObject', 's3:DeleteObject'], 'inputs/*');
    grantObjects(this.handler, props.bucket, ['s3:GetObject', 's3:DeleteObject'], 'generations/*'); // to presign output links, and delete them
    grantSecretValue(this.handler, props.upstreamKey);
    props.stateMachine.grantStartExecution(this.handler);
    grantWake(this.handler, props.stateMachineArnFromName); // a callback ends the workflow's wait
    // A cancel stops the running run of the task's workflow, which it finds by describing the task's runs.
    const stop = props.stateMachine.grantExecution(this.handler, 'states:DescribeExecution', 'states:StopExecution');
    acknowledge(
      this.handler.role!,
      'IAM5',
      'DescribeExecution and StopExecution on the executions of this one state machine: execution names are task ids (and -r2, -r3 reruns) known only at run time.',
      stop.principalStatements.flatMap((statement) => statement.resources).map((arn) => resourceFinding(this, arn)),
    );

    // A plain AWS_PROXY integration, not LambdaIntegration, which would add two invoke permissions per method
    // (one of them for the console's test invocations): one permission below covers this API's stage.
    const integration = new Integration({
      type: IntegrationType.AWS_PROXY,
      integrationHttpMethod: 'POST',
      uri: `arn:${Aws.PARTITION}:apigateway:${Aws.REGION}:lambda:path/2015-03-31/functions/${this.handler.functionArn}/invocations`,
      options: { timeout: INTEGRATION_TIMEOUT },
    });
    this.restApi.root.addMethod('ANY', integration);
    this.restApi.root.addResource('{proxy+}').addMethod('ANY', integration);
    this.handler.addPermission('RestApiInvoke', {
      principal: new ServicePrincipal('apigateway.amazonaws.com'),
      action: 'lambda:InvokeFunction',
      sourceArn: this.restApi.arnForExecuteApi('*', '/*', API_STAGE_NAME),
    });

    const stage = this.restApi.deploymentStage;
    // API Gateway creates the execution log group on the first error, without a retention, unless it exists.
    const executionLogs = new LogGroup(this, 'ExecutionLogs', {
      logGroupName: `API-Gateway-Execution-Logs_${this.restApi.restApiId}/${API_STAGE_NAME}`,
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    stage.node.addDependency(executionLogs);
    if (props.setAccountCloudWatchRole ?? true) stage.node.addDependency(this.accountCloudWatchRole());

    this.protection = new ApiProtection(this, 'Protection', { stage, ...props.clientLimits, corsOrigin: soleCorsOrigin });
    this.url = this.restApi.url;

    const noAuthorizer =
      'Clients authenticate with per-tenant API keys (Authorization: Bearer), checked by the API function against their SHA-256 in the table on every request; ' +
      'there is no IAM or Cognito caller, and an authorizer would only add a second lookup of the same key.';
    acknowledge(this.restApi, 'APIG4', noAuthorizer);
    acknowledge(this.restApi, 'COG4', `${noAuthorizer} Clients are programs holding keys, not users of a Cognito user pool.`);
    acknowledge(
      this.restApi,
      'APIG2',
      'Every request goes to the API function through a proxy integration, and the function validates each body with the one zod schema the API is defined by, ' +
        'answering the API\'s own JSON errors (400 with a detail per field). An API Gateway model would be a second copy of that schema to drift, answering another error shape.',
    );
  }

  /**
   * API Gateway's CloudWatch role for the account and region, with what API Gateway needs to write logs into
   * this account's log groups (the inline equivalent of the AWS managed AmazonAPIGatewayPushToCloudWatchLogs).
   * Scoped to the account and region, not to this API's log groups: the setting serves every REST API there.
   */
  private accountCloudWatchRole(): CfnAccount {
    const logGroups = `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:*`;
    const role = new Role(this, 'ApiGatewayCloudWatchRole', {
      description: 'API Gateway writes REST API logs of this account and region with this role (the account setting cloudWatchRoleArn)',
      assumedBy: new ServicePrincipal('apigateway.amazonaws.com'),
      inlinePolicies: {
        PushLogs: new PolicyDocument({
          statements: [
            new PolicyStatement({
              actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:DescribeLogGroups', 'logs:DescribeLogStreams', 'logs:PutLogEvents'],
              resources: [logGroups],
            }),
          ],
        }),
      },
    });
    role.applyRemovalPolicy(RemovalPolicy.RETAIN);
    const account = new CfnAccount(this, 'ApiGatewayAccount', { cloudWatchRoleArn: role.roleArn });
    account.applyRemovalPolicy(RemovalPolicy.RETAIN);
    acknowledge(
      role,
      'IAM5',
      "API Gateway's CloudWatch role is one setting for every REST API of the account in this region: it must be able to write to any of their log groups " +
        '(execution logs go to groups API Gateway names after each API). It is limited to this account and region, and to writing.',
      [resourceFinding(role, logGroups)],
    );
    return account;
  }
}

/**
 * One JSON line per request. No header, query string or path is logged: `resourcePath` is the route template
 * (`/{proxy+}`), so neither the Authorization header nor a callback URL's token can reach the log.
 */
export const ACCESS_LOG_FIELDS: Readonly<Record<string, string>> = {
  requestId: '"$context.requestId"',
  ip: '"$context.identity.sourceIp"',
  requestTime: '"$context.requestTime"',
  httpMethod: '"$context.httpMethod"',
  resourcePath: '"$context.resourcePath"',
  status: '"$context.status"',
  protocol: '"$context.protocol"',
  responseLength: '"$context.responseLength"',
  responseLatency: '"$context.responseLatency"',
  integrationStatus: '"$context.integration.status"',
  integrationLatency: '"$context.integration.latency"',
  integrationError: '"$context.integrationErrorMessage"',
  wafResponseCode: '"$context.wafResponseCode"',
  // Already quoted and escaped by API Gateway: a message with a quote in it still makes valid JSON.
  error: '$context.error.messageString',
  errorType: '"$context.error.responseType"',
};
const ACCESS_LOG_FORMAT = `{${Object.entries(ACCESS_LOG_FIELDS)
  .map(([name, value]) => `"${name}":${value}`)
  .join(',')}}`;
