/**
 * The whole gateway on one machine. It synthesizes the CDK app, then runs what was synthesized: the
 * Lambda bundles (each in its own worker with the environment from the template), the state machine
 * definition (in aws-local-stepfunctions), against DynamoDB and S3 emulators, a local Step Functions and
 * Secrets Manager endpoint, and — unless a real upstream is configured — the simulated Luma API.
 * The functions reach all of it through the SDK's standard endpoint variables: none has a local branch.
 */
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { localPublicBaseUrl } from '../functions/commons/domain/upstream-marker.ts';
import type { RawOfferSettings } from '../functions/commons/domain/luma-options.ts';
import { resolveIntrinsics, stateMachineDefinition, type ResourceValues } from './cloudformation-intrinsics.ts';
import { LocalStepFunctions } from './step-functions.ts';
import { UsageMeter } from './usage.ts';
import { createApiFront } from './api-front.ts';
import { LocalWebAcl, rateRulesFromTemplate } from './web-acl.ts';
import { restApiSettingsFromTemplate } from './rest-api-settings.ts';
import { startDynamoDb, startS3, type S3Event } from './emulators.ts';
import { ensurePrivateDir, writePrivateFile } from './private-files.ts';
import type { SimulatedLuma, SimulatedLumaFaults, SimulatedLumaOptions } from './simulated-luma.ts';
import { ENDPOINTS_FILE, LOCAL_ACCOUNT, LOCAL_REGION, LOCAL_TABLE_NAME, localCredentials, type LocalCredentials } from './local-aws.ts';
import { closeServer, listenOnLoopback } from './loopback-http.ts';
import { TimeScale } from './time-scale.ts';
import { createAwsEndpoint } from './gateway/aws-endpoint.ts';
import { localEnvironment, sharedEnvironment } from './gateway/function-environment.ts';
import { scheduleReconciler } from './gateway/reconciler-schedule.ts';
import { startSimulator } from './gateway/simulated-upstream.ts';
import { seedKeys } from './gateway/api-keys.ts';
import { hostFunctions, type Invocable } from './gateway/functions.ts';
import { LocalEventBus, rulesFromTemplate } from './event-bridge/event-bus.ts';
import {
  bucketCorsRules,
  logicalIds,
  scheduleIntervalSeconds,
  synthContext,
  synthesize,
  withGenerationTimeout,
} from './gateway/synthesized-app.ts';

export interface LocalGatewayOptions {
  /** Emulator data, executions and the synthesized app live here; reuse it to keep every task. */
  dataDir: string;
  /** 0 picks a free port. */
  port: number;
  /** Client keys, each its own owner; when empty, one is generated and kept in the data dir. */
  apiKeys: string[];
  /** Multiplies every wait, poll interval, retry interval and deadline (and the simulated upstream's timings). */
  timeScale: number;
  /** A real or compatible upstream; when unset, the simulated one is started. */
  upstream?: { baseUrl: string; apiKey: string };
  /**
   * Where the upstream can reach this gateway, the base of every task's marker URL. @default this
   * gateway's own URL when the upstream is on a loopback address (the simulated one); none otherwise, so
   * a remote upstream is never handed a loopback URL (tasks then carry no marker and never adopt).
   */
  publicBaseUrl?: string;
  /** Overrides the deployed default deadline of a generation (before scaling). */
  generationTimeoutSeconds?: number;
  /** Overrides the deployed default time a task may wait for an upstream slot (before scaling). */
  queueTimeoutSeconds?: number;
  /** Overrides the deployed upstream limits (creates a minute are in scaled minutes). */
  capacity?: { maxConcurrent?: number; maxCreatesPerMinute?: number };
  /**
   * Overrides the deployed default per-key limits: generations a scaled minute, tasks queued at once, and
   * tasks running upstream at once (default: no cap).
   */
  keyLimits?: { ratePerMinute?: number; maxQueued?: number; maxConcurrent?: number };
  /**
   * Overrides the deployed defaults and allowed values of model, resolution and duration (as in
   * luma-options.ts), and the resubmits of upstream-side failures. They go into the synth as CDK context,
   * so they are checked, and reach the functions, exactly as in a deploy.
   */
  upstreamChoices?: RawOfferSettings;
  upstreamResubmits?: number;
  /** UPSTREAM_CALLBACKS: whether the workflow expects the upstream's callbacks (CDK context `upstreamCallbacks`). Unset: the deployment's (true). */
  upstreamCallbacks?: boolean;
  /**
   * Overrides the deployed per-client limits of the web ACL (requests a minute per key, per address) and the
   * stage's throttle (requests a second, burst). Synthesized as CDK context, then read back from the template.
   */
  edgeLimits?: EdgeLimits;
  /**
   * Browser origins allowed to call the API and PUT uploads (the CDK context `corsAllowedOrigins`, as
   * CORS_ALLOWED_ORIGINS sets it). @default none
   */
  corsAllowedOrigins?: readonly string[];
  /** Deploys the example consumer too (the CDK context `exampleConsumer`, as EXAMPLE_CONSUMER sets it). @default false */
  exampleConsumer?: boolean;
  /** The webhook secret of the seeded keys (LOCAL_WEBHOOK_SECRET). @default one generated, kept in the data dir */
  webhookSecret?: string;
  /** The clock the web ACL and the throttle count with, in milliseconds. @default performance.now */
  edgeClock?: () => number;
  /**
   * Fault injection and concurrency limit of the simulated upstream (ignored with a real upstream), and the
   * clock its timelines run on (tests hold generations where they are by freezing it).
   */
  simulator?: SimulatedLumaFaults & Pick<SimulatedLumaOptions, 'clock' | 'queuedSeconds' | 'dreamingSeconds'>;
  log?: (line: string) => void;
  /** Where the functions' own logs go. @default this process's stdout */
  functionLogs?: (chunk: string) => void;
}

export interface EdgeLimits {
  requestsPerKey?: number;
  requestsPerAddress?: number;
  rateLimit?: number;
  burstLimit?: number;
}

export interface LocalGateway {
  url: string;
  apiKeys: string[];
  bucket: string;
  s3Endpoint: string;
  dynamoDbEndpoint: string;
  /** The local Step Functions and Secrets Manager endpoint. */
  awsEndpoint: string;
  /** The data dir's key pair: the only one the local endpoints accept (the functions sign with it). */
  credentials: LocalCredentials;
  /** Present when the simulated upstream runs. */
  simulatedLuma?: SimulatedLuma;
  stepFunctions: LocalStepFunctions;
  /** Every S3 event the bucket emitted (what EventBridge rules would receive in AWS). */
  s3Events: S3Event['Records'];
  /** The local EventBridge: every event the functions published (also in `eventsFile`), routed to the template's rules. */
  eventBus: LocalEventBus;
  /** LOCAL_DATA_DIR/events.jsonl */
  eventsFile: string;
  /** The webhook delivery workflow's executions. */
  webhookDeliveries: LocalStepFunctions;
  /** The secret that signs the seeded keys' webhooks, and whether this start made it. */
  webhookSecret: string;
  webhookSecretGenerated: boolean;
  /** Lambda invocations and DynamoDB reads so far, per function (usage.ts). */
  usage: UsageMeter;
  close(): Promise<void>;
}


const TABLE_NAME = LOCAL_TABLE_NAME;
const BUCKET_NAME = 'luma-gateway-videos';

export async function startLocalGateway(options: LocalGatewayOptions): Promise<LocalGateway> {
  const log = options.log ?? ((line: string) => console.log(line));
  const scale = new TimeScale(options.timeScale);
  const dataDir = resolve(options.dataDir);
  ensurePrivateDir(dataDir);
  const credentials = localCredentials(dataDir);
  const closers: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const closer of closers.reverse()) await closer().catch(() => undefined);
  };

  try {
    const { stack, template, outdir } = synthesize(join(dataDir, 'cdk.out'), synthContext(options));
    const ids = logicalIds(stack);
    const tableProps = template.Resources[ids.table]!.Properties;

    const s3Events: S3Event['Records'] = [];
    const usage = new UsageMeter();
    const dynamo = await startDynamoDb(
      dataDir,
      credentials,
      {
      TableName: TABLE_NAME,
      KeySchema: tableProps.KeySchema,
      AttributeDefinitions: tableProps.AttributeDefinitions,
      GlobalSecondaryIndexes: tableProps.GlobalSecondaryIndexes?.map(
        ({ IndexName, KeySchema, Projection }: { IndexName: string; KeySchema: unknown; Projection: unknown }) => ({ IndexName, KeySchema, Projection }),
      ),
      BillingMode: 'PAY_PER_REQUEST',
      },
      (req, body, res) => usage.observeDynamoDb(req, body, res),
    );
    closers.push(dynamo.close);
    const s3 = await startS3(
      dataDir,
      credentials,
      BUCKET_NAME,
      (event) => {
        for (const record of event.Records) {
          s3Events.push(record);
          log(`event: s3:${record.eventName} s3://${record.s3.bucket.name}/${record.s3.object.key}`);
        }
      },
      bucketCorsRules(template.Resources[ids.bucket]!.Properties),
      (req) => usage.observeS3(req),
    );
    closers.push(s3.close);

    let simulatedLuma: SimulatedLuma | undefined;
    let upstream = options.upstream;
    if (!upstream) {
      const simulator = await startSimulator(dataDir, options);
      closers.push(simulator.close);
      simulatedLuma = simulator;
      upstream = { baseUrl: simulator.baseUrl, apiKey: simulator.apiKey };
    }

    // The front listens first, holding requests until the API function exists: the function's environment
    // names the gateway's own URL, the base of the markers the upstream echoes and calls back.
    let apiHostReady!: (host: Invocable) => void;
    const apiHostPromise = new Promise<Invocable>((ready) => (apiHostReady = ready));
    const edgeClock = options.edgeClock ?? (() => performance.now());
    const front = createApiFront(async (event) => (await apiHostPromise).invoke(event), log, {
      ...restApiSettingsFromTemplate(template),
      webAcl: new LocalWebAcl(rateRulesFromTemplate(template), edgeClock),
      now: edgeClock,
    });
    const url = await listenOnLoopback(front, options.port);
    const closeFront = () => closeServer(front, 5_000); // a POST in flight still gets to start its workflow
    closers.push(closeFront);
    const publicBaseUrl = localPublicBaseUrl(options.publicBaseUrl, upstream.baseUrl, url);
    if (!publicBaseUrl) log('No PUBLIC_BASE_URL for this upstream: tasks carry no marker, and an interrupted submit is retried, not matched.');

    const arn = (service: string, resource: string) => `arn:aws:${service}:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${resource}`;
    // The deployed name, which the functions that dispatch compute their ARN from (workflow.ts).
    const stateMachineName = String(template.Resources[ids.stateMachine]!.Properties.StateMachineName);
    const stateMachineArn = arn('states', `stateMachine:${stateMachineName}`);
    const deliveryStateMachineName = String(template.Resources[ids.deliveryStateMachine]!.Properties.StateMachineName);
    const deliveryStateMachineArn = arn('states', `stateMachine:${deliveryStateMachineName}`);
    const secretArn = arn('secretsmanager', 'secret:luma-api-key');
    const functionArn = (id: string) => arn('lambda', `function:${id}`);
    const values: ResourceValues = {
      [ids.table]: { ref: TABLE_NAME, attributes: { Arn: arn('dynamodb', `table/${TABLE_NAME}`) } },
      [ids.bucket]: { ref: BUCKET_NAME, attributes: { Arn: `arn:aws:s3:::${BUCKET_NAME}` } },
      [ids.stateMachine]: { ref: stateMachineArn, attributes: { Name: stateMachineName } },
      [ids.deliveryStateMachine]: { ref: deliveryStateMachineArn, attributes: { Name: deliveryStateMachineName } },
      [ids.secret]: { ref: secretArn },
      [ids.restApi]: { ref: 'local-rest-api' },
      ...Object.fromEntries(Object.values(ids.functions).map((id) => [id, { ref: id, attributes: { Arn: functionArn(id) } }])),
    };
    const pseudo = { region: LOCAL_REGION, accountId: LOCAL_ACCOUNT, stackName: stack.stackName };

    // Functions are looked up at invocation time: their workers need the endpoint's URL to start.
    let hosts = new Map<string, Invocable>();
    const invokeLambda = (fnArn: string, payload: unknown) =>
      hosts.get(fnArn)?.invoke(payload) ?? Promise.reject(new Error(`No local function ${fnArn}`));
    const sfn = new LocalStepFunctions({
      stateMachineArn,
      definition: withGenerationTimeout(
        stateMachineDefinition(template, ids.stateMachine, values, pseudo),
        template.Resources[ids.api]!.Properties.Environment.Variables.GENERATION_TIMEOUT_SECONDS,
        options.generationTimeoutSeconds,
      ),
      invokeLambda,
      timeScale: options.timeScale,
      stateFile: join(dataDir, 'executions.json'),
    });
    const webhookDeliveries = new LocalStepFunctions({
      stateMachineArn: deliveryStateMachineArn,
      definition: stateMachineDefinition(template, ids.deliveryStateMachine, values, pseudo),
      invokeLambda,
      timeScale: options.timeScale,
      stateFile: join(dataDir, 'webhook-executions.json'),
    });
    const eventsFile = join(dataDir, 'events.jsonl');
    const eventBus = new LocalEventBus({
      account: LOCAL_ACCOUNT,
      region: LOCAL_REGION,
      buses: [String(resolveIntrinsics(template.Resources[ids.api]!.Properties.Environment.Variables.EVENT_BUS_NAME, values, pseudo))],
      rules: rulesFromTemplate(template, values, pseudo),
      file: eventsFile,
      invoke: (fnArn, event) => invokeLambda(fnArn, event),
      scale,
      log,
    });
    closers.push(async () => eventBus.close());
    const awsEndpoint = createAwsEndpoint([sfn, webhookDeliveries], new Map([[secretArn, upstream.apiKey]]), eventBus, credentials);
    const awsEndpointUrl = await listenOnLoopback(awsEndpoint);
    closers.push(() => closeServer(awsEndpoint, 0));

    const sharedEnv = sharedEnvironment(credentials, { dynamoDb: dynamo.endpoint, s3: s3.endpoint, aws: awsEndpointUrl });
    const functions = hostFunctions({
      template,
      outdir,
      functions: ids.functions,
      values,
      pseudo,
      functionArn,
      environment: (resolved) => localEnvironment(resolved, sharedEnv, upstream.baseUrl, publicBaseUrl, scale, options),
      usage,
      logs: options.functionLogs,
    });
    hosts = functions.hosts;
    closers.push(functions.close);
    // Closed before the functions, so no execution sees its Lambda vanish and records a bogus failure:
    // executions are aborted as they are, and the next start resumes them.
    closers.push(() => sfn.close(), () => webhookDeliveries.close());

    const seeded = await seedKeys(dataDir, options.apiKeys, options.webhookSecret, dynamo.endpoint, credentials);
    // While this runs, its DynamoDB emulator holds the data dir: `npm run keys` finds it through this file
    // (and signs with the data dir's credentials file).
    writePrivateFile(join(dataDir, ENDPOINTS_FILE), JSON.stringify({ dynamodb: dynamo.endpoint, table: TABLE_NAME }));
    closers.push(async () => rmSync(join(dataDir, ENDPOINTS_FILE), { force: true }));
    apiHostReady(hosts.get(functionArn(ids.api))!);
    closers.splice(closers.indexOf(closeFront), 1);
    closers.push(closeFront);
    const resumed = (await sfn.resumeRunning()) + (await webhookDeliveries.resumeRunning());
    if (resumed > 0) log(`resumed ${resumed} unfinished workflow execution(s)`);
    const stopReconciler = scheduleReconciler(
      hosts.get(functionArn(ids.reconcile))!,
      scale.secondsAsMs(scheduleIntervalSeconds(template, ids.reconcileSchedule)),
      log,
    );
    closers.splice(closers.length - 1, 0, stopReconciler); // stopped right after the API front

    return {
      url,
      apiKeys: seeded.apiKeys,
      webhookSecret: seeded.webhookSecret,
      webhookSecretGenerated: seeded.webhookSecretGenerated,
      eventBus,
      eventsFile,
      webhookDeliveries,
      bucket: BUCKET_NAME,
      s3Endpoint: s3.endpoint,
      dynamoDbEndpoint: dynamo.endpoint,
      awsEndpoint: awsEndpointUrl,
      credentials,
      simulatedLuma,
      stepFunctions: sfn,
      s3Events,
      usage,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
