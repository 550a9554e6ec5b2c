/**
 * The whole gateway on one machine. It synthesizes the CDK app, then runs what was synthesized: the
 * Lambda bundles (each in its own worker with the environment from the template), the state machine
 * definition (in aws-local-stepfunctions), against DynamoDB and S3 emulators, a local Step Functions and
 * Secrets Manager endpoint, and — unless a real upstream is configured — the simulated Luma API.
 * The functions reach all of it through the SDK's standard endpoint variables: none has a local branch.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CfnElement, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { buildApp } from '../infra/app.ts';
import type { GatewayStack } from '../infra/gateway-stack.ts';
import { DynamoDbApiKeyStore } from '../functions/commons/adapters/api-key-store.ts';
import { hashApiKey, keyPrefix, newOwnerId } from '../functions/commons/domain/api-key.ts';
import { resolveIntrinsics, stateMachineDefinition, type AslDefinition, type ResourceValues, type Template } from './template.ts';
import { LocalStepFunctions, stepFunctionsHttpHandler } from './step-functions.ts';
import { LambdaHost } from './lambda-host.ts';
import { UsageMeter } from './usage.ts';
import { createApiFront } from './api-front.ts';
import { LocalWebAcl, rateRulesFromTemplate } from './web-acl.ts';
import { restApiSettingsFromTemplate } from './rest-api-settings.ts';
import { startDynamoDb, startS3, type S3Event } from './emulators.ts';
import { secretsHttpHandler } from './secrets.ts';
import { jsonServiceGuard, type BucketCorsRule } from './endpoint-guard.ts';
import { ensurePrivateDir, writePrivateFile } from './private-files.ts';
import { startSimulatedLuma, type SimulatedLuma } from './simulated-luma.ts';
import { localPublicBaseUrl } from '../functions/commons/domain/upstream-marker.ts';
import { GENERATION_OPTION_NAMES, GENERATION_OPTIONS, type RawOfferSettings } from '../functions/commons/domain/luma-options.ts';
import { ENDPOINTS_FILE, LOCAL_ACCOUNT, LOCAL_REGION, LOCAL_TABLE_NAME, localCredentials, type LocalCredentials } from './local-aws.ts';

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
  /** The clock the web ACL and the throttle count with, in milliseconds. @default performance.now */
  edgeClock?: () => number;
  /**
   * Fault injection and concurrency limit of the simulated upstream (ignored with a real upstream), and the
   * clock its timelines run on (tests hold generations where they are by freezing it).
   */
  simulator?: import('./simulated-luma.ts').SimulatedLumaFaults & Pick<import('./simulated-luma.ts').SimulatedLumaOptions, 'clock'>;
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
  /** Lambda invocations and DynamoDB reads so far, per function (usage.ts). */
  usage: UsageMeter;
  close(): Promise<void>;
}

/** A function as the runtime calls it: its host, counted. */
type Invocable = Pick<LambdaHost, 'arn' | 'invoke' | 'close'>;

const TABLE_NAME = LOCAL_TABLE_NAME;
const BUCKET_NAME = 'luma-gateway-videos';

export async function startLocalGateway(options: LocalGatewayOptions): Promise<LocalGateway> {
  const log = options.log ?? ((line: string) => console.log(line));
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
    await new Promise<void>((ready, fail) => front.once('error', fail).listen(options.port, '127.0.0.1', ready));
    const closeFront = () => closeServer(front, 5_000); // a POST in flight still gets to start its workflow
    closers.push(closeFront);
    const url = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
    const publicBaseUrl = localPublicBaseUrl(options.publicBaseUrl, upstream.baseUrl, url);
    if (!publicBaseUrl) log('No PUBLIC_BASE_URL for this upstream: tasks carry no marker, and an interrupted submit is retried, not matched.');

    const arn = (service: string, resource: string) => `arn:aws:${service}:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${resource}`;
    // The deployed name, which the functions that dispatch compute their ARN from (workflow.ts).
    const stateMachineName = String(template.Resources[ids.stateMachine]!.Properties.StateMachineName);
    const stateMachineArn = arn('states', `stateMachine:${stateMachineName}`);
    const secretArn = arn('secretsmanager', 'secret:luma-api-key');
    const functionArn = (id: string) => arn('lambda', `function:${id}`);
    const values: ResourceValues = {
      [ids.table]: { ref: TABLE_NAME, attributes: { Arn: arn('dynamodb', `table/${TABLE_NAME}`) } },
      [ids.bucket]: { ref: BUCKET_NAME, attributes: { Arn: `arn:aws:s3:::${BUCKET_NAME}` } },
      [ids.stateMachine]: { ref: stateMachineArn, attributes: { Name: stateMachineName } },
      [ids.secret]: { ref: secretArn },
      [ids.restApi]: { ref: 'local-rest-api' },
      ...Object.fromEntries(Object.values(ids.functions).map((id) => [id, { ref: id, attributes: { Arn: functionArn(id) } }])),
    };
    const pseudo = { region: LOCAL_REGION, accountId: LOCAL_ACCOUNT, stackName: stack.stackName };

    // Functions are looked up at invocation time: their workers need the endpoint's URL to start.
    const hosts = new Map<string, Invocable>();
    const sfn = new LocalStepFunctions({
      stateMachineArn,
      definition: withGenerationTimeout(
        stateMachineDefinition(template, ids.stateMachine, values, pseudo),
        template.Resources[ids.api]!.Properties.Environment.Variables.GENERATION_TIMEOUT_SECONDS,
        options.generationTimeoutSeconds,
      ),
      invokeLambda: (fnArn, payload) =>
        hosts.get(fnArn)?.invoke(payload) ?? Promise.reject(new Error(`No local function ${fnArn}`)),
      timeScale: options.timeScale,
      stateFile: join(dataDir, 'executions.json'),
    });
    const awsEndpoint = await listen(createAwsEndpoint(sfn, new Map([[secretArn, upstream.apiKey]]), credentials));
    closers.push(() => closeServer(awsEndpoint.server));

    const sharedEnv: Record<string, string> = {
      AWS_REGION: LOCAL_REGION,
      AWS_DEFAULT_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ENDPOINT_URL_SFN: awsEndpoint.url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: awsEndpoint.url,
      // s3rver stores a streamed body with its aws-chunked framing unless checksums are off (REFERENCE §4).
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
      S3_FORCE_PATH_STYLE: 'true',
    };
    for (const [name, id] of Object.entries(ids.functions)) {
      const resource = template.Resources[id]!.Properties;
      const environment = resolveIntrinsics(resource.Environment?.Variables ?? {}, values, pseudo) as Record<string, string>;
      // Names the function in its SDK's user agent, so that its DynamoDB reads are counted as its own.
      environment.AWS_SDK_UA_APP_ID = name;
      const host = new LambdaHost({
        name: id,
        arn: functionArn(id),
        bundlePath: bundlePathOf(outdir, resource.Code?.S3Key),
        handlerName: String(resource.Handler).split('.').pop()!,
        timeoutMs: (resource.Timeout ?? 3) * 1000,
        environment: localEnvironment(environment, sharedEnv, upstream.baseUrl, publicBaseUrl, options),
        logs: options.functionLogs,
      });
      hosts.set(host.arn, { arn: host.arn, invoke: (payload) => usage.timed(name, () => host.invoke(payload)), close: () => host.close() });
      closers.push(() => host.close());
    }
    // Closed before the functions, so no execution sees its Lambda vanish and records a bogus failure:
    // executions are aborted as they are, and the next start resumes them.
    closers.push(() => sfn.close());

    const apiKeys = await seedApiKeys(dataDir, options.apiKeys, dynamo.endpoint, credentials);
    // While this runs, its DynamoDB emulator holds the data dir: `npm run keys` finds it through this file
    // (and signs with the data dir's credentials file).
    writePrivateFile(join(dataDir, ENDPOINTS_FILE), JSON.stringify({ dynamodb: dynamo.endpoint, table: TABLE_NAME }));
    closers.push(async () => rmSync(join(dataDir, ENDPOINTS_FILE), { force: true }));
    apiHostReady(hosts.get(functionArn(ids.api))!);
    closers.splice(closers.indexOf(closeFront), 1);
    closers.push(closeFront);
    const resumed = await sfn.resumeRunning();
    if (resumed > 0) log(`resumed ${resumed} unfinished workflow execution(s)`);
    const stopReconciler = scheduleReconciler(
      hosts.get(functionArn(ids.reconcile))!,
      scheduleIntervalMs(template, ids.reconcileSchedule) * options.timeScale,
      log,
    );
    closers.splice(closers.length - 1, 0, stopReconciler); // stopped right after the API front

    return {
      url,
      apiKeys,
      bucket: BUCKET_NAME,
      s3Endpoint: s3.endpoint,
      dynamoDbEndpoint: dynamo.endpoint,
      awsEndpoint: awsEndpoint.url,
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

/**
 * The machine's backstop timeout is the deployed deadline plus room for the copy; a local deadline
 * override moves it by as much, so a long local deadline is not cut short by the deployed backstop.
 */
function withGenerationTimeout(definition: AslDefinition, deployedSeconds: string, overrideSeconds: number | undefined): AslDefinition {
  if (overrideSeconds === undefined || definition.TimeoutSeconds === undefined) return definition;
  return { ...definition, TimeoutSeconds: Math.max(1, definition.TimeoutSeconds + overrideSeconds - Number(deployedSeconds)) };
}

/**
 * The simulated upstream keeps its address and key across restarts of the same data dir, as a real one
 * would: asset links recorded before a crash still lead to it afterwards.
 */
async function startSimulator(dataDir: string, options: LocalGatewayOptions): Promise<SimulatedLuma & { apiKey: string }> {
  const identityFile = join(dataDir, 'simulated-luma-identity.json');
  const saved = existsSync(identityFile)
    ? (JSON.parse(readFileSync(identityFile, 'utf8')) as { port: number; apiKey: string })
    : { port: 0, apiKey: randomBytes(24).toString('hex') };
  const start = (port: number) =>
    startSimulatedLuma({
      ...options.simulator,
      apiKey: saved.apiKey,
      port,
      timeScale: options.timeScale,
      stateFile: join(dataDir, 'simulated-luma.json'),
    });
  // The old port may have been taken meanwhile: then links from before the restart are lost, not the run.
  const simulator = await start(saved.port).catch(() => start(0));
  writePrivateFile(identityFile, JSON.stringify({ port: Number(new URL(simulator.baseUrl).port), apiKey: saved.apiKey }));
  return Object.assign(simulator, { apiKey: saved.apiKey });
}

/** The options that are deployment settings, as the CDK context keys a deploy would set. */
function synthContext(options: LocalGatewayOptions): Record<string, unknown> {
  const context: Record<string, unknown> = {};
  for (const name of GENERATION_OPTION_NAMES) {
    const { default: value, allowed } = options.upstreamChoices?.[name] ?? {};
    if (value !== undefined && value !== '') context[GENERATION_OPTIONS[name].context] = value;
    if (allowed !== undefined && allowed !== '') context[GENERATION_OPTIONS[name].allowedContext] = allowed;
  }
  if (options.upstreamResubmits !== undefined) context.upstreamResubmits = options.upstreamResubmits;
  const edge = options.edgeLimits ?? {};
  const edgeContext = { clientRequestsPerMinute: edge.requestsPerKey, ipRequestsPerMinute: edge.requestsPerAddress, apiRateLimit: edge.rateLimit, apiBurstLimit: edge.burstLimit };
  for (const [key, value] of Object.entries(edgeContext)) if (value !== undefined) context[key] = value;
  if (options.corsAllowedOrigins !== undefined) context.corsAllowedOrigins = [...options.corsAllowedOrigins];
  return context;
}

function synthesize(outdir: string, context: Record<string, unknown>): { stack: GatewayStack; template: Template; outdir: string } {
  // The template is validated by `cdk synth` and the infra tests; skipping it here saves ~2 s per start.
  const { app, stack } = buildApp({ outdir, context, validate: false });
  const assembly = app.synth();
  const template = assembly.getStackByName(stack.stackName).template as Template;
  return { stack, template, outdir };
}

function logicalIds(stack: GatewayStack) {
  const id = (construct: IConstruct) => (stack as Stack).getLogicalId(construct.node.defaultChild as CfnElement);
  return {
    table: id(stack.storage.table),
    bucket: id(stack.storage.bucket),
    stateMachine: id(stack.workflow.stateMachine),
    secret: id(stack.upstreamKey),
    restApi: id(stack.api.restApi),
    api: id(stack.api.handler),
    reconcile: id(stack.workflow.reconcileFunction),
    reconcileSchedule: id(stack.workflow.reconcileSchedule),
    /** By the names the usage counts go by. */
    functions: {
      Api: id(stack.api.handler),
      Poll: id(stack.workflow.pollFunction),
      Copy: id(stack.workflow.copyFunction),
      RecordFailure: id(stack.workflow.recordFailureFunction),
      Reconcile: id(stack.workflow.reconcileFunction),
    },
  };
}

/** The bucket's CORS rules from its template properties (none unless the deployment allows browser origins). */
function bucketCorsRules(bucket: { CorsConfiguration?: { CorsRules?: any[] } }): BucketCorsRule[] {
  return (bucket.CorsConfiguration?.CorsRules ?? []).map((rule) => ({
    allowedOrigins: rule.AllowedOrigins ?? [],
    allowedMethods: rule.AllowedMethods ?? [],
    allowedHeaders: rule.AllowedHeaders ?? [],
    maxAgeSeconds: rule.MaxAge,
  }));
}

/** A function's code is the asset `<hash>.zip`; its unzipped form is `cdk.out/asset.<hash>/index.mjs`. */
function bundlePathOf(outdir: string, s3Key: unknown): string {
  const hash = typeof s3Key === 'string' ? /^([0-9a-f]{64})\.zip$/.exec(s3Key)?.[1] : undefined;
  if (!hash) throw new Error(`Cannot find the bundle of a function whose code key is ${JSON.stringify(s3Key)}.`);
  const path = join(outdir, `asset.${hash}`, 'index.mjs');
  if (!existsSync(path)) throw new Error(`Bundle ${path} is missing.`);
  return path;
}

/** The template's environment, pointed at the local upstream and scaled in time. */
function localEnvironment(
  environment: Record<string, string>,
  sharedEnv: Record<string, string>,
  upstreamBaseUrl: string,
  publicBaseUrl: string | undefined,
  options: LocalGatewayOptions,
): Record<string, string> {
  const env = { ...environment, ...sharedEnv };
  delete env.NODE_OPTIONS; // process-wide in a worker; source maps are for AWS logs
  if (env.LUMA_BASE_URL) env.LUMA_BASE_URL = upstreamBaseUrl;
  if (env.PUBLIC_BASE_URL !== undefined) env.PUBLIC_BASE_URL = publicBaseUrl ?? '';
  // The upstream serves its assets from its own origin (the simulator: http://127.0.0.1:<port>): allow
  // exactly that origin, as an explicit entry, on top of the deployed allowlist.
  if (env.ASSET_HOST_ALLOWLIST !== undefined) {
    env.ASSET_HOST_ALLOWLIST = [env.ASSET_HOST_ALLOWLIST, new URL(upstreamBaseUrl).origin].filter(Boolean).join(',');
  }
  const scale = (name: string, override?: number) => {
    if (env[name] !== undefined) env[name] = String((override ?? Number(env[name])) * options.timeScale);
  };
  // Waits are scaled by the local Step Functions itself (they come from data: the poll's waitSeconds).
  scale('GENERATION_TIMEOUT_SECONDS', options.generationTimeoutSeconds);
  scale('QUEUE_TIMEOUT_SECONDS', options.queueTimeoutSeconds);
  // Not below a few real seconds: the API's own time is not scaled, and a busy machine slows it down.
  if (env.RECONCILE_GRACE_SECONDS !== undefined) {
    env.RECONCILE_GRACE_SECONDS = String(Math.max(5, Number(env.RECONCILE_GRACE_SECONDS) * options.timeScale));
  }
  const override = (name: string, value: number | undefined) => {
    if (env[name] !== undefined && value !== undefined) env[name] = String(value);
  };
  // "A minute" of scaled time: a limit per minute grows, per real minute, as time runs faster.
  const perScaledMinute = (name: string, value: number | undefined) => {
    if (env[name] !== undefined) env[name] = String(Math.ceil((value ?? Number(env[name])) / options.timeScale));
  };
  override('UPSTREAM_MAX_CONCURRENT', options.capacity?.maxConcurrent);
  perScaledMinute('UPSTREAM_MAX_CREATES_PER_MINUTE', options.capacity?.maxCreatesPerMinute);
  override('KEY_MAX_QUEUED', options.keyLimits?.maxQueued);
  perScaledMinute('KEY_RATE_PER_MINUTE', options.keyLimits?.ratePerMinute);
  // No cap is deployed by default, so the variable may be absent: set it wherever the key limits are read.
  if (env.KEY_MAX_QUEUED !== undefined && options.keyLimits?.maxConcurrent !== undefined) {
    env.KEY_MAX_CONCURRENT = String(options.keyLimits.maxConcurrent);
  }
  return env;
}

/** The reconciler's `rate(…)` schedule from the template, in milliseconds. */
function scheduleIntervalMs(template: Template, ruleId: string): number {
  const expression = String(template.Resources[ruleId]?.Properties?.ScheduleExpression ?? '');
  const match = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (!match) throw new Error(`Cannot run the schedule "${expression}" locally.`);
  const unit = { minute: 60_000, hour: 3_600_000, day: 86_400_000 }[match[2]!.replace(/s$/, '') as 'minute' | 'hour' | 'day'];
  return Number(match[1]) * unit;
}

/**
 * Stands in for the EventBridge rule: runs the reconciler at start (after a crash, that is when it is
 * needed most) and then on its schedule, one run at a time.
 */
function scheduleReconciler(host: Pick<LambdaHost, 'invoke'>, intervalMs: number, log: (line: string) => void): () => Promise<void> {
  let running: Promise<void> = Promise.resolve();
  const run = () => {
    running = running
      .then(() => host.invoke({ source: 'local.schedule' }))
      .then((report) => {
        const { checked: _checked, ...repairs } = report as Record<string, number>;
        if (Object.values(repairs).some(Boolean)) log(`reconciler: ${JSON.stringify(report)}`);
      })
      .catch((error: Error) => log(`reconciler failed: ${error.name}: ${error.message}`));
  };
  run();
  const timer = setInterval(run, Math.max(intervalMs, 100));
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}

/**
 * One endpoint for the JSON-protocol services the functions call, Step Functions and Secrets Manager,
 * answering only requests signed with the data dir's key: it hands out the upstream key.
 */
function createAwsEndpoint(sfn: LocalStepFunctions, secretValues: Map<string, string>, credentials: LocalCredentials): Server {
  const stepFunctions = stepFunctionsHttpHandler(sfn);
  const secrets = secretsHttpHandler(secretValues);
  const policy = { credentials, region: LOCAL_REGION, services: ['states', 'secretsmanager'], uriEscapePath: true };
  return createServer(
    jsonServiceGuard(policy, (req, res, body) => {
      const target = String(req.headers['x-amz-target'] ?? '');
      if (target.startsWith('secretsmanager.')) secrets(req, res, body);
      else void stepFunctions(req, res, body);
    }),
  );
}

async function listen(server: Server): Promise<{ url: string; server: Server }> {
  await new Promise<void>((ready, fail) => server.once('error', fail).listen(0, '127.0.0.1', ready));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** Stops accepting connections, lets requests in flight finish for a moment, then cuts the rest. */
function closeServer(server: Server, graceMs = 0): Promise<void> {
  server.closeIdleConnections();
  const cut = setTimeout(() => server.closeAllConnections(), graceMs);
  return new Promise((done) =>
    server.close(() => {
      clearTimeout(cut);
      done();
    }),
  );
}

/**
 * Stores the hashes of the client keys; a generated key is kept in the data dir so restarts reuse it. Only
 * a generated key gets a prefix stored: the operator's own (LOCAL_API_KEY) may be short or guessable.
 */
async function seedApiKeys(dataDir: string, keys: string[], endpoint: string, credentials: LocalCredentials): Promise<string[]> {
  const keyFile = join(dataDir, 'api-key');
  const generated = keys.length === 0;
  if (generated) {
    if (!existsSync(keyFile)) writeFileSync(keyFile, `lvg_${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
    keys = [readFileSync(keyFile, 'utf8').trim()];
  }
  const client = new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials });
  try {
    const store = new DynamoDbApiKeyStore(DynamoDBDocumentClient.from(client), TABLE_NAME);
    const createdAt = new Date().toISOString();
    for (const key of keys) {
      const keyHash = hashApiKey(key);
      // A key stored already keeps the owner it got the first time (ensure does not overwrite), so its tasks
      // stay readable across restarts; a new one gets a random owner of its own, never one derived from the key.
      const name = `local-${keyHash.slice(0, 12)}`;
      await store.ensure({ keyHash, owner: newOwnerId(), name, ...(generated && { prefix: keyPrefix(key) }), createdAt });
    }
  } finally {
    client.destroy();
  }
  return keys;
}
