/**
 * The CDK app. Settings come from context (`cdk.json` or `-c key=value`), under the keys the settings
 * catalogue names (functions/commons/settings/catalogue.ts; the README's CDK context table). Lists: entries
 * separated by commas, or a list in cdk.json.
 */
import { App, Duration, Validations, type IStackSynthesizer } from 'aws-cdk-lib';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { GatewayStack } from './gateway-stack.ts';
import { parseAllowedOrigins } from '../functions/commons/domain/cors.ts';
import type { NumberSetting } from '../functions/commons/settings/catalogue.ts';
import { SettingsReader, settingOf } from '../functions/commons/settings/reader.ts';

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
  const context = SettingsReader.context((key) => app.node.tryGetContext(key));
  // Only the type here: each construct checks its props against the catalogue's bounds, naming the setting.
  const number = (name: Parameters<typeof context.number>[0]) => context.number(name, 'number');
  // The offer's and the origins' own parsers read a list as written, in one string or as entries.
  const list = (name: Parameters<typeof context.list>[0]): string | string[] | undefined => {
    const value = context.raw(name);
    return value === undefined ? undefined : Array.isArray(value) ? value.map(String) : String(value);
  };
  const stack = new GatewayStack(app, STACK_NAME, {
    description: 'Luma video generation gateway (aggregator-compatible API, Step Functions, S3)',
    synthesizer: options.synthesizer,
    upstream: {
      baseUrl: context.text('upstreamBaseUrl'),
      model: context.text('upstreamModel'),
      resolution: context.text('upstreamResolution'),
      duration: context.text('upstreamDuration'),
      allowedModels: list('allowedModels'),
      allowedResolutions: list('allowedResolutions'),
      allowedDurations: list('allowedDurations'),
      resubmits: number('upstreamResubmits'),
    },
    upstreamKeySecretArn: context.text('upstreamKeySecretArn'),
    upstreamKeySecretKmsKeyArn: context.text('upstreamKeySecretKmsKeyArn'),
    generationTimeout: durationContext(context, 'generationTimeout'),
    pollInterval: durationContext(context, 'pollInterval'),
    polling: {
      upstreamCallbacks: context.boolean('upstreamCallbacks'),
      callbackFallback: secondsContext(number('pollFallback')),
      typicalPrior: secondsContext(number('pollPrior')),
      maxPollsPerTask: number('maxPollsPerTask'),
    },
    assetHostAllowlist: context.list('assetHostAllowlist'),
    capacity: {
      maxConcurrent: number('upstreamMaxConcurrent'),
      maxCreatesPerMinute: number('upstreamMaxCreatesPerMinute'),
      queueTimeout: durationContext(context, 'queueTimeout'),
    },
    keyLimits: {
      ratePerMinute: number('keyRatePerMinute'),
      maxQueued: number('keyMaxQueued'),
      maxConcurrent: number('keyMaxConcurrent'),
    },
    reconcileInterval: durationContext(context, 'reconcileInterval'),
    publicBaseUrl: httpsUrlContext(context.text('publicBaseUrl')),
    clientLimits: {
      requestsPerKey: number('clientRequestsPerMinute'),
      requestsPerAddress: number('ipRequestsPerMinute'),
    },
    apiThrottle: { rateLimit: number('apiRateLimit'), burstLimit: number('apiBurstLimit') },
    setAccountCloudWatchRole: context.boolean('apiGatewayCloudWatchRole'),
    corsAllowedOrigins: parseAllowedOrigins(list('corsAllowedOrigins'), context.label('corsAllowedOrigins')),
    eventBusName: context.text('eventBusName'),
    exampleConsumer: context.boolean('exampleConsumer'),
    alarmEmail: context.text('alarmEmail'),
  });
  return { app, stack };
}

/**
 * A duration in the unit its context key counts (`generationTimeoutMinutes`, `queueTimeoutHours`): hours
 * are taken to the nearest whole minute.
 */
function durationContext(context: SettingsReader, name: 'generationTimeout' | 'pollInterval' | 'queueTimeout' | 'reconcileInterval'): Duration | undefined {
  const value = context.number(name, 'number');
  if (value === undefined) return undefined;
  const setting = settingOf(name) as NumberSetting;
  if (setting.contextIn === 'hours') return Duration.minutes(Math.round(value * 60));
  return setting.contextIn === 'minutes' ? Duration.minutes(value) : Duration.seconds(value);
}

function secondsContext(value: number | undefined): Duration | undefined {
  return value === undefined ? undefined : Duration.seconds(value);
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
