/**
 * `npm start`: the gateway on this machine, no AWS or Luma account needed. See the README for settings.
 */
import { startLocalGateway } from './gateway.ts';
import { API_KEY_PATTERN, maskApiKey } from '../functions/commons/domain/api-key.ts';
import { simulatedLumaFaultsFromEnv } from './simulated-luma.ts';
import { corsFromEnv, edgeLimitsFromEnv, upstreamSettingsFromEnv } from './settings.ts';
import { timeScaleFromEnv } from './time-scale.ts';

function numberSetting(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, not "${raw}".`);
  return value;
}

/** LOCAL_API_KEY: keys separated by commas, each visible ASCII, 1 to 256 characters. */
function localApiKeys(raw: string | undefined): string[] {
  const keys = (raw ?? '').split(',').map((key) => key.trim()).filter(Boolean);
  const bad = keys.findIndex((key) => !API_KEY_PATTERN.test(key));
  if (bad >= 0) throw new Error(`LOCAL_API_KEY: key ${bad + 1} must be 1 to 256 visible ASCII characters (no spaces).`);
  return keys;
}

function optionalNumber(name: string): number | undefined {
  return process.env[name] ? numberSetting(name, 0) : undefined;
}

async function main(): Promise<void> {
  const started = Date.now();
  const baseUrl = process.env.LUMA_BASE_URL;
  const upstreamKey = process.env.LUMA_API_KEY;
  if (Boolean(baseUrl) !== Boolean(upstreamKey)) {
    throw new Error('Set both LUMA_BASE_URL and LUMA_API_KEY to use a real upstream, or neither to use the simulated one.');
  }
  const timeScale = timeScaleFromEnv(process.env);
  const timeout = process.env.GENERATION_TIMEOUT_SECONDS;
  const operatorKeys = localApiKeys(process.env.LOCAL_API_KEY);
  const gateway = await startLocalGateway({
    dataDir: process.env.LOCAL_DATA_DIR || '.local',
    port: numberSetting('PORT', 3000),
    apiKeys: operatorKeys,
    timeScale: timeScale.factor,
    upstream: baseUrl && upstreamKey ? { baseUrl, apiKey: upstreamKey } : undefined,
    publicBaseUrl: process.env.PUBLIC_BASE_URL || undefined,
    generationTimeoutSeconds: timeout ? numberSetting('GENERATION_TIMEOUT_SECONDS', 1800) : undefined,
    queueTimeoutSeconds: optionalNumber('QUEUE_TIMEOUT_SECONDS'),
    simulator: simulatedLumaFaultsFromEnv(process.env),
    capacity: {
      maxConcurrent: optionalNumber('UPSTREAM_MAX_CONCURRENT'),
      maxCreatesPerMinute: optionalNumber('UPSTREAM_MAX_CREATES_PER_MINUTE'),
    },
    keyLimits: {
      ratePerMinute: optionalNumber('KEY_RATE_PER_MINUTE'),
      maxQueued: optionalNumber('KEY_MAX_QUEUED'),
      maxConcurrent: optionalNumber('KEY_MAX_CONCURRENT'),
    },
    ...upstreamSettingsFromEnv(process.env),
    ...edgeLimitsFromEnv(process.env),
    ...corsFromEnv(process.env),
  });

  console.log(`Upstream: ${gateway.simulatedLuma ? `simulated Luma API at ${gateway.simulatedLuma.baseUrl}` : baseUrl}`);
  console.log(`Videos: s3://${gateway.bucket} (S3 emulator at ${gateway.s3Endpoint})`);
  if (gateway.simulatedLuma) console.log(`Simulator seed: ${gateway.simulatedLuma.seed}`);
  // A key the gateway generated is printed so it can be used; one the operator chose is theirs already.
  for (const key of gateway.apiKeys) console.log(`API key: ${operatorKeys.length > 0 ? maskApiKey(key) : key}`);
  console.log(`Ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`Listening on ${gateway.url}`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping`);
    gateway.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: Error) => {
  console.error(`Could not start: ${error.message}`);
  process.exit(1);
});
