/**
 * Settings come from the environment, read once at cold start. A missing or malformed value throws
 * there, so a bad deployment fails on its first invocation rather than half-way through a task. What each
 * variable means, its default and its bounds are in the settings catalogue (settings/catalogue.ts).
 */
import { ConfigurationError } from './errors.ts';
import { publicBaseUrlProblem } from './domain/upstream-marker.ts';
import { offerSettingsFromEnv, parseGenerationOffer, type GenerationOffer } from './domain/luma-options.ts';
import { parseAllowedOrigins } from './domain/cors.ts';
import { DEFAULT_KEY_LIMITS, type KeyLimits } from './domain/api-key.ts';
import { SETTINGS } from './settings/catalogue.ts';
import { DEFAULT_POLL_SCHEDULE, type PollingSettings } from './domain/poll-schedule.ts';
import { SettingsReader, defaultOf } from './settings/reader.ts';
import type { CallbackPolicy } from './policy/callback-policy.ts';

/** Where the Luma API serves generated assets (see the catalogue). The infra sets it explicitly on the copy function. */
export const DEFAULT_ASSET_HOST_ALLOWLIST: readonly string[] = SETTINGS.assetHostAllowlist.default;

/** How long a task may wait for an upstream slot: a day. */
export const DEFAULT_QUEUE_TIMEOUT_SECONDS = SETTINGS.queueTimeout.default;

/** Resubmits of a task the upstream failed on its own side ("Job failed"). */
export const DEFAULT_UPSTREAM_RESUBMITS = SETTINGS.upstreamResubmits.default;

const env = SettingsReader.env(process.env, (name) => `Environment variable ${name}`);

/** Runs a read, turning any problem with a value into a ConfigurationError (its message names the variable). */
function configured<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw new ConfigurationError((error as Error).message);
  }
}

/**
 * A number of the catalogue, or its default. Held to the bounds the functions accept: the local runtime
 * scales durations and per-minute limits past the deployment's, which the synth checks.
 */
function number(name: Parameters<typeof env.number>[0]): number {
  return configured(() => env.number(name, 'runtime') ?? (defaultOf(name) as number));
}

const upstreamBaseUrl = () => env.text('upstreamBaseUrl') ?? SETTINGS.upstreamBaseUrl.default;

/**
 * The models, resolutions and durations this deployment offers, and its defaults (LUMA_MODEL,
 * LUMA_RESOLUTION, LUMA_DURATION, ALLOWED_MODELS, ALLOWED_RESOLUTIONS, ALLOWED_DURATIONS).
 */
export function generationOffer(): GenerationOffer {
  return configured(() => parseGenerationOffer(offerSettingsFromEnv(process.env), 'env'));
}

/** Each concern reads its own settings through one of these, so handlers name only what they use. */
export const settings = {
  tableName: () => configured(() => env.required('tableName')),
  bucketName: () => configured(() => env.required('bucketName')),
  stateMachineArn: () => configured(() => env.required('stateMachineArn')),
  upstream: () => {
    const offer = generationOffer();
    return {
      baseUrl: upstreamBaseUrl(),
      model: offer.model.default,
      resolution: offer.resolution.default,
      duration: offer.duration.default,
      apiKeySecretId: configured(() => env.required('upstreamKeySecretArn')),
      timeoutMs: number('upstreamTimeout'),
    };
  },
  generationOffer,
  /** How often the poll may submit again a task the upstream failed on its own side (Failure.resubmittable). */
  upstreamResubmits: () => number('upstreamResubmits'),
  /**
   * Where the upstream can reach this gateway: the base of every task's marker URL (the API's own URL when
   * deployed). Unset: tasks carry no marker, and a task whose submit was ambiguous is submitted again
   * rather than matched to a listed generation.
   */
  publicBaseUrl: (): string | undefined => {
    const value = env.text('publicBaseUrl');
    if (!value) return undefined;
    const problem = publicBaseUrlProblem(value, upstreamBaseUrl());
    if (problem) throw new ConfigurationError(problem);
    return value;
  },
  capacity: () => ({
    maxConcurrent: number('upstreamMaxConcurrent'),
    maxCreatesPerMinute: number('upstreamMaxCreatesPerMinute'),
  }),
  /** Defaults for keys that have no limits of their own (domain/api-key.ts); KEY_MAX_CONCURRENT unset: no cap. */
  keyLimits: (): KeyLimits => {
    const maxConcurrent = configured(() => env.number('keyMaxConcurrent', 'runtime'));
    return {
      ratePerMinute: number('keyRatePerMinute'),
      maxQueued: number('keyMaxQueued'),
      weight: DEFAULT_KEY_LIMITS.weight,
      ...(maxConcurrent !== undefined && { maxConcurrent }),
    };
  },
  /** How long a task may wait in its owner's queue for an upstream slot before it fails. */
  queueTimeoutSeconds: () => number('queueTimeout'),
  generationTimeoutSeconds: () => number('generationTimeout'),
  /** The shortest wait between polls, and between tries of a deferred submit: whole seconds (domain/workflow-wait.ts). */
  pollIntervalSeconds: () => number('pollInterval'),
  /** When to read the upstream (domain/poll-schedule.ts), and what the schedule needs to know besides. */
  polling: (): PollingSettings => {
    const minIntervalSeconds = number('pollInterval');
    return {
      schedule: {
        ...DEFAULT_POLL_SCHEDULE,
        callbackFallbackSeconds: number('pollFallback'),
        minIntervalSeconds,
        maxIntervalSeconds: Math.max(minIntervalSeconds, DEFAULT_POLL_SCHEDULE.maxIntervalSeconds),
        maxPollsPerTask: number('maxPollsPerTask'),
      },
      callbacks: configured(() => env.boolean('upstreamCallbacks')) ?? SETTINGS.upstreamCallbacks.default,
      priorSeconds: number('pollPrior'),
      // Set by the local runtime only, which runs time faster: the schedule measures time on the gateway's clock.
      timeScale: number('localTimeScale'),
    };
  },
  presignExpirySeconds: () => number('presignExpiry'),
  keyframeUrlExpirySeconds: () => number('keyframeUrlExpiry'),
  maxVideoBytes: () => number('maxVideoBytes'),
  downloadTimeoutMs: () => number('downloadTimeout'),
  /** A task younger than this may be between "recorded" and "started" by the API: not the reconciler's yet. */
  reconcileGraceSeconds: () => number('reconcileGrace'),
  /** The browser origins the API answers CORS for (domain/cors.ts); none: CORS off. */
  corsAllowedOrigins: (): string[] =>
    configured(() => parseAllowedOrigins(env.raw('corsAllowedOrigins') as string | undefined, env.key('corsAllowedOrigins'))),
  /** The EventBridge bus the functions publish to (its name or ARN; `default`: the account's). */
  eventBusName: () => env.text('eventBusName') ?? SETTINGS.eventBusName.default,
  webhookStateMachineArn: () => configured(() => env.required('webhookStateMachineArn')),
  /** How long a webhook delivery is retried (scaled by the local runtime). */
  webhookRetryWindowSeconds: () => number('webhookRetryWindow'),
  /** Which webhook URLs the gateway calls: deployed, https on public addresses only (policy/callback-policy.ts). */
  callbackPolicy: (): CallbackPolicy => ({ allowLoopback: configured(() => env.boolean('webhookLoopback')) ?? SETTINGS.webhookLoopback.default }),
  /** Where asset downloads may go: comma-separated host patterns and explicit origins (asset-policy.ts). */
  assetHostAllowlist: () => (env.raw('assetHostAllowlist') as string | undefined) ?? DEFAULT_ASSET_HOST_ALLOWLIST.join(','),
};
