/**
 * The CDK app. Settings come from context (`cdk.json` or `-c key=value`):
 * `upstreamBaseUrl`, `upstreamModel`, `upstreamResolution`, `upstreamDuration`, `allowedModels`,
 * `allowedResolutions`, `allowedDurations`, `upstreamResubmits`, `upstreamKeySecretArn` (complete or partial),
 * `upstreamKeySecretKmsKeyArn`, `generationTimeoutMinutes`, `pollIntervalSeconds` (whole seconds),
 * `upstreamMaxConcurrent`, `upstreamMaxCreatesPerMinute`, `queueTimeoutHours`,
 * `keyRatePerMinute`, `keyMaxQueued`, `keyMaxConcurrent`, `reconcileIntervalMinutes`, `assetHostAllowlist`, `publicBaseUrl`
 * (https; the API's custom domain, if the upstream should call that), `clientRequestsPerMinute`,
 * `ipRequestsPerMinute` (the web ACL's per-key and per-address limits), `apiRateLimit`, `apiBurstLimit` (the
 * stage's throttle), `apiGatewayCloudWatchRole` (false: leave the account's API Gateway logging role alone),
 * `corsAllowedOrigins` (browser origins allowed to call the API and PUT uploads; none by default), `alarmEmail`
 * (an email address subscribed to the alarms' SNS topic; none by default).
 * Lists: entries separated by commas, or a list in cdk.json.
 */
import { App, Duration, Validations, type IStackSynthesizer } from 'aws-cdk-lib';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { GatewayStack } from './gateway-stack.ts';
import { GENERATION_OPTIONS } from '../functions/commons/domain/luma-options.ts';
import { parseAllowedOrigins } from '../functions/commons/domain/cors.ts';
import { KEY_LIMITS } from '../functions/commons/domain/api-key.ts';

export const STACK_NAME = 'LumaVideoGateway';

export interface BuildAppOptions {
  readonly outdir?: string;
  /** On top of cdk.json's context. */
  readonly context?: Record<string, unknown>;
  /** CDK's built-in CloudFormation validation. @default CDK's default (on) */
  readonly validate?: boolean;
  /**
   * Runs cdk-nag's `AwsSolutionsChecks` when the app is synthesized: any finding not fixed or acknowledged
   * (see infra/nag.ts) fails the synth. @default true
   */
  readonly nag?: boolean;
  /** How the stack is synthesized. @default CDK's (assets in the bootstrap bucket, for `cdk deploy`); `npm run package` gives its own */
  readonly synthesizer?: IStackSynthesizer;
}

export function buildApp(options: BuildAppOptions = {}): {
  app: App;
  stack: GatewayStack;
} {
  // cdk.json's context (feature flags, settings) applies also when the app is built in-process, by the
  // local runtime and the tests, so that what they run is what `cdk deploy` deploys.
  const app = new App({
    outdir: options.outdir,
    context: { ...cdkJsonContext(), ...options.context },
    builtinCloudFormationValidation: options.validate,
  });
  if (options.nag ?? true) {
    // Loaded only when used: the module takes about 0.3 s to load, which `nag: false` saves as well.
    const { AwsSolutionsChecks } = createRequire(import.meta.url)('cdk-nag') as typeof import('cdk-nag');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  }
  const context = (key: string): string | undefined => app.node.tryGetContext(key) ?? undefined;
  const numberContext = (key: string): number | undefined => {
    const value = context(key);
    if (value === undefined || value === '') return undefined;
    const number = Number(value);
    if (!Number.isFinite(number)) throw new Error(`Context ${key} must be a number, not "${value}".`);
    return number;
  };
  const listContext = (key: string): string | string[] | undefined => {
    const value: unknown = app.node.tryGetContext(key);
    return value === undefined || value === null ? undefined : Array.isArray(value) ? value.map(String) : String(value);
  };
  const { model, resolution, duration } = GENERATION_OPTIONS;
  const minutes = numberContext('generationTimeoutMinutes');
  const seconds = numberContext('pollIntervalSeconds');
  const allowlist: unknown = app.node.tryGetContext('assetHostAllowlist');
  const reconcileMinutes = numberContext('reconcileIntervalMinutes');
  const queueHours = numberContext('queueTimeoutHours');
  const stack = new GatewayStack(app, STACK_NAME, {
    description: 'Luma video generation gateway (seed-compatible API, Step Functions, S3)',
    synthesizer: options.synthesizer,
    upstream: {
      baseUrl: context('upstreamBaseUrl'),
      model: context(model.context),
      resolution: context(resolution.context),
      duration: context(duration.context),
      allowedModels: listContext(model.allowedContext),
      allowedResolutions: listContext(resolution.allowedContext),
      allowedDurations: listContext(duration.allowedContext),
      resubmits: numberContext('upstreamResubmits'),
    },
    upstreamKeySecretArn: context('upstreamKeySecretArn'),
    upstreamKeySecretKmsKeyArn: context('upstreamKeySecretKmsKeyArn'),
    generationTimeout: minutes === undefined ? undefined : Duration.minutes(minutes),
    pollInterval: seconds === undefined ? undefined : Duration.seconds(seconds),
    assetHostAllowlist:
      allowlist === undefined || allowlist === '' ? undefined : Array.isArray(allowlist) ? allowlist.map(String) : String(allowlist).split(','),
    capacity: {
      maxConcurrent: numberContext('upstreamMaxConcurrent'),
      maxCreatesPerMinute: numberContext('upstreamMaxCreatesPerMinute'),
      queueTimeout: queueHours === undefined ? undefined : Duration.minutes(Math.round(queueHours * 60)),
    },
    keyLimits: {
      ratePerMinute: numberContext(KEY_LIMITS.ratePerMinute.context),
      maxQueued: numberContext(KEY_LIMITS.maxQueued.context),
      maxConcurrent: numberContext(KEY_LIMITS.maxConcurrent.context),
    },
    reconcileInterval: reconcileMinutes === undefined ? undefined : Duration.minutes(reconcileMinutes),
    publicBaseUrl: httpsUrlContext(context('publicBaseUrl')),
    clientLimits: {
      requestsPerKey: numberContext('clientRequestsPerMinute'),
      requestsPerAddress: numberContext('ipRequestsPerMinute'),
    },
    apiThrottle: { rateLimit: numberContext('apiRateLimit'), burstLimit: numberContext('apiBurstLimit') },
    setAccountCloudWatchRole: booleanContext(app.node.tryGetContext('apiGatewayCloudWatchRole')),
    corsAllowedOrigins: parseAllowedOrigins(listContext('corsAllowedOrigins'), 'Context corsAllowedOrigins'),
    alarmEmail: context('alarmEmail'),
  });
  return { app, stack };
}

/** `true`/`false`, from cdk.json or as `-c key=true|false`. */
function booleanContext(value: unknown): boolean | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new Error(`Context apiGatewayCloudWatchRole must be true or false, not "${String(value)}".`);
}

/** A custom public base URL must be https with nothing but a path: the upstream calls it. */
function httpsUrlContext(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    // reported below
  }
  if (!url || url.protocol !== 'https:' || url.search || url.hash || url.username || url.password) {
    throw new Error(`Context publicBaseUrl must be an https URL without query, fragment or credentials, not "${value}".`);
  }
  return value.replace(/\/+$/, '');
}

function cdkJsonContext(): Record<string, unknown> {
  const file = fileURLToPath(new URL('../cdk.json', import.meta.url));
  return (JSON.parse(readFileSync(file, 'utf8')) as { context?: Record<string, unknown> }).context ?? {};
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  buildApp().app.synth();
}
