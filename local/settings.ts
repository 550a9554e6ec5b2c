/**
 * `npm start`'s settings from the environment, as the settings catalogue names them
 * (functions/commons/settings/catalogue.ts; the README's `npm start` table). Checked here, before anything
 * starts, so that a mistake names the variable. Deployment settings go into the synth as the CDK context a
 * deploy would take, which checks them again, together with cdk.json's; unset ones leave the deployment's.
 */
import type { LocalGatewayOptions } from './gateway.ts';
import { offerSettingsFromEnv, parseGenerationOffer } from '../functions/commons/domain/luma-options.ts';
import { parseAllowedOrigins } from '../functions/commons/domain/cors.ts';
import { API_KEY_PATTERN } from '../functions/commons/domain/api-key.ts';
import { SettingsReader, defaultOf } from '../functions/commons/settings/reader.ts';

type Env = Record<string, string | undefined>;

/** Everything `npm start` hands the local gateway, but the simulated upstream's faults (simulated-luma/faults.ts). */
export function localGatewayOptionsFromEnv(env: Env): Omit<LocalGatewayOptions, 'simulator'> {
  const settings = SettingsReader.env(env);
  const baseUrl = settings.text('upstreamBaseUrl');
  const apiKey = settings.text('upstreamApiKey');
  if (Boolean(baseUrl) !== Boolean(apiKey)) {
    throw new Error('Set both LUMA_BASE_URL and LUMA_API_KEY to use a real upstream, or neither to use the simulated one.');
  }
  // The functions' own bounds, not a deployment's: the local runtime scales durations and rates past those.
  const number = (name: Parameters<typeof settings.number>[0]) => settings.number(name, 'runtime');
  return {
    dataDir: settings.text('localDataDir') ?? defaultOf('localDataDir'),
    port: number('port') ?? defaultOf('port'),
    apiKeys: localApiKeys(settings.list('localApiKeys')),
    timeScale: number('localTimeScale') ?? defaultOf('localTimeScale'),
    upstream: baseUrl && apiKey ? { baseUrl, apiKey } : undefined,
    publicBaseUrl: settings.text('publicBaseUrl'),
    generationTimeoutSeconds: number('generationTimeout'),
    queueTimeoutSeconds: number('queueTimeout'),
    capacity: { maxConcurrent: number('upstreamMaxConcurrent'), maxCreatesPerMinute: number('upstreamMaxCreatesPerMinute') },
    keyLimits: { ratePerMinute: number('keyRatePerMinute'), maxQueued: number('keyMaxQueued'), maxConcurrent: number('keyMaxConcurrent') },
    upstreamCallbacks: settings.boolean('upstreamCallbacks'),
    exampleConsumer: settings.boolean('exampleConsumer'),
    webhookSecret: settings.text('localWebhookSecret'),
    ...upstreamSettingsFromEnv(env),
    ...edgeLimitsFromEnv(env),
    ...corsFromEnv(env),
  };
}

/** LOCAL_API_KEY: keys separated by commas, each visible ASCII, 1 to 256 characters. */
function localApiKeys(keys: string[] = []): string[] {
  const bad = keys.findIndex((key) => !API_KEY_PATTERN.test(key));
  if (bad >= 0) throw new Error(`LOCAL_API_KEY: key ${bad + 1} must be 1 to 256 visible ASCII characters (no spaces).`);
  return keys;
}

/**
 * The upstream's choices (LUMA_MODEL, LUMA_RESOLUTION, LUMA_DURATION, ALLOWED_MODELS, ALLOWED_RESOLUTIONS,
 * ALLOWED_DURATIONS) and UPSTREAM_RESUBMITS, held to a deployment's bounds.
 */
export function upstreamSettingsFromEnv(env: Env): Pick<LocalGatewayOptions, 'upstreamChoices' | 'upstreamResubmits'> {
  const upstreamChoices = offerSettingsFromEnv(env);
  parseGenerationOffer(upstreamChoices, 'env');
  const upstreamResubmits = SettingsReader.env(env).number('upstreamResubmits');
  return upstreamResubmits === undefined ? { upstreamChoices } : { upstreamChoices, upstreamResubmits };
}

/**
 * `npm start`'s limits at the edge: CLIENT_REQUESTS_PER_MINUTE and IP_REQUESTS_PER_MINUTE (the web ACL's rules),
 * API_RATE_LIMIT and API_BURST_LIMIT (the stage's throttle). Unset: the deployment's. They are synthesized as the
 * CDK context a deploy would take, which checks them (WAF's bounds) and names the setting.
 */
export function edgeLimitsFromEnv(env: Env): Pick<LocalGatewayOptions, 'edgeLimits'> {
  const settings = SettingsReader.env(env);
  return {
    edgeLimits: {
      requestsPerKey: settings.number('clientRequestsPerMinute', 'number'),
      requestsPerAddress: settings.number('ipRequestsPerMinute', 'number'),
      rateLimit: settings.number('apiRateLimit', 'number'),
      burstLimit: settings.number('apiBurstLimit', 'number'),
    },
  };
}

/**
 * CORS_ALLOWED_ORIGINS: browser origins, separated by commas, allowed to call the API and PUT uploads (as the
 * CDK context `corsAllowedOrigins`). Unset: the deployment's (none).
 */
export function corsFromEnv(env: Env): Pick<LocalGatewayOptions, 'corsAllowedOrigins'> {
  const settings = SettingsReader.env(env);
  const raw = settings.raw('corsAllowedOrigins') as string | undefined;
  if (raw === undefined || raw.trim() === '') return {};
  return { corsAllowedOrigins: parseAllowedOrigins(raw, settings.key('corsAllowedOrigins')) };
}
