/**
 * Settings come from the environment, read once at cold start. A missing or malformed value throws
 * there, so a bad deployment fails on its first invocation rather than half-way through a task.
 */
import { ConfigurationError } from './errors.ts';
import { publicBaseUrlProblem } from './domain/upstream-marker.ts';
import { MAX_WORKFLOW_WAIT_SECONDS, MIN_WORKFLOW_WAIT_SECONDS } from './domain/workflow-wait.ts';

const DEFAULT_UPSTREAM_BASE_URL = 'https://api.lumalabs.ai/dream-machine/v1';
import { offerSettingsFromEnv, parseGenerationOffer, type GenerationOffer } from './domain/luma-options.ts';
import { parseAllowedOrigins } from './domain/cors.ts';
import { KEY_LIMITS, type KeyLimits } from './domain/api-key.ts';

/**
 * Where the Luma API serves generated assets (entries as in adapters/asset-policy.ts): its docs show
 * `https://storage.cdn-luma.com/dream_machine/…`; the wildcard also covers Luma's other CDN hosts
 * (e.g. `static.cdn-luma.com`), all under its own domain. The infra sets it explicitly on the copy function.
 */
export const DEFAULT_ASSET_HOST_ALLOWLIST: readonly string[] = ['*.cdn-luma.com'];

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new ConfigurationError(`Environment variable ${name} is not set.`);
  return value;
}

export function optionalEnv(name: string, fallback: string): string {
  return process.env[name] || fallback;
}

export function numberEnv(name: string, fallback: number, { min = 0 } = {}): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) {
    throw new ConfigurationError(`Environment variable ${name} must be a number ≥ ${min}, not "${raw}".`);
  }
  return value;
}

/** How long a task may wait for an upstream slot: a day. */
export const DEFAULT_QUEUE_TIMEOUT_SECONDS = 24 * 3600;

/** Resubmits of a task the upstream failed on its own side ("Job failed"): the default, and the most a deployment may set. */
export const DEFAULT_UPSTREAM_RESUBMITS = 1;
export const MAX_UPSTREAM_RESUBMITS = 5;

export function wholeNumberEnv(name: string, fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}): number {
  const value = numberEnv(name, fallback, { min });
  if (!Number.isInteger(value) || value > max) {
    throw new ConfigurationError(`Environment variable ${name} must be a whole number from ${min} to ${max}, not "${process.env[name]}".`);
  }
  return value;
}

/**
 * The models, resolutions and durations this deployment offers, and its defaults (LUMA_MODEL,
 * LUMA_RESOLUTION, LUMA_DURATION, ALLOWED_MODELS, ALLOWED_RESOLUTIONS, ALLOWED_DURATIONS).
 */
export function generationOffer(): GenerationOffer {
  try {
    return parseGenerationOffer(offerSettingsFromEnv(process.env), 'env');
  } catch (error) {
    throw new ConfigurationError((error as Error).message);
  }
}

/** Each concern reads its own settings through one of these, so handlers name only what they use. */
export const settings = {
  tableName: () => requireEnv('TABLE_NAME'),
  bucketName: () => requireEnv('BUCKET_NAME'),
  stateMachineArn: () => requireEnv('STATE_MACHINE_ARN'),
  upstream: () => {
    const offer = generationOffer();
    return {
      baseUrl: optionalEnv('LUMA_BASE_URL', DEFAULT_UPSTREAM_BASE_URL),
      model: offer.model.default,
      resolution: offer.resolution.default,
      duration: offer.duration.default,
      apiKeySecretId: requireEnv('LUMA_API_KEY_SECRET_ARN'),
      timeoutMs: numberEnv('UPSTREAM_TIMEOUT_MS', 10_000, { min: 100 }),
    };
  },
  generationOffer,
  /** How often the poll may submit again a task the upstream failed on its own side (Failure.resubmittable). */
  upstreamResubmits: () => wholeNumberEnv('UPSTREAM_RESUBMITS', DEFAULT_UPSTREAM_RESUBMITS, { max: MAX_UPSTREAM_RESUBMITS }),
  /**
   * Where the upstream can reach this gateway: the base of every task's marker URL (the API's own URL when
   * deployed). Unset: tasks carry no marker, and a task whose submit was ambiguous is submitted again
   * rather than matched to a listed generation.
   */
  publicBaseUrl: (): string | undefined => {
    const value = process.env.PUBLIC_BASE_URL;
    if (!value) return undefined;
    const problem = publicBaseUrlProblem(value, optionalEnv('LUMA_BASE_URL', DEFAULT_UPSTREAM_BASE_URL));
    if (problem) throw new ConfigurationError(problem);
    return value;
  },
  capacity: () => ({
    maxConcurrent: numberEnv('UPSTREAM_MAX_CONCURRENT', 10, { min: 1 }),
    maxCreatesPerMinute: numberEnv('UPSTREAM_MAX_CREATES_PER_MINUTE', 20, { min: 1 }),
  }),
  /** Defaults for keys that have no limits of their own (domain/api-key.ts); KEY_MAX_CONCURRENT unset: no cap. */
  keyLimits: (): KeyLimits => {
    // The synth bounds them (infra/constructs/function-environment.ts); the local runtime scales them past those bounds.
    const limit = (name: keyof KeyLimits) => {
      const { env, default: fallback } = KEY_LIMITS[name];
      return env && process.env[env] ? numberEnv(env, 1, { min: 1 }) : fallback;
    };
    const maxConcurrent = limit('maxConcurrent');
    return {
      ratePerMinute: limit('ratePerMinute')!,
      maxQueued: limit('maxQueued')!,
      weight: KEY_LIMITS.weight.default,
      ...(maxConcurrent !== undefined && { maxConcurrent }),
    };
  },
  /** How long a task may wait in its owner's queue for an upstream slot before it fails. */
  queueTimeoutSeconds: () => numberEnv('QUEUE_TIMEOUT_SECONDS', DEFAULT_QUEUE_TIMEOUT_SECONDS, { min: 1 }),
  generationTimeoutSeconds: () => numberEnv('GENERATION_TIMEOUT_SECONDS', 1800, { min: 1 }),
  /** The Wait state's length between polls: whole seconds, as Step Functions requires (domain/workflow-wait.ts). */
  pollIntervalSeconds: () =>
    wholeNumberEnv('POLL_INTERVAL_SECONDS', 10, { min: MIN_WORKFLOW_WAIT_SECONDS, max: MAX_WORKFLOW_WAIT_SECONDS }),
  presignExpirySeconds: () => numberEnv('PRESIGN_EXPIRY_SECONDS', 3600, { min: 1 }),
  keyframeUrlExpirySeconds: () => numberEnv('KEYFRAME_URL_EXPIRY_SECONDS', 3600, { min: 60 }),
  maxVideoBytes: () => numberEnv('MAX_VIDEO_BYTES', 1024 * 1024 * 1024, { min: 1 }),
  downloadTimeoutMs: () => numberEnv('DOWNLOAD_TIMEOUT_MS', 600_000, { min: 100 }),
  /** The browser origins the API answers CORS for (domain/cors.ts); none: CORS off. */
  corsAllowedOrigins: (): string[] => {
    try {
      return parseAllowedOrigins(process.env.CORS_ALLOWED_ORIGINS, 'CORS_ALLOWED_ORIGINS');
    } catch (error) {
      throw new ConfigurationError((error as Error).message);
    }
  },
  /** Where asset downloads may go: comma-separated host patterns and explicit origins (asset-policy.ts). */
  assetHostAllowlist: () => optionalEnv('ASSET_HOST_ALLOWLIST', DEFAULT_ASSET_HOST_ALLOWLIST.join(',')),
};
