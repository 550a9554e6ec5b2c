/**
 * The gateway's settings (upstream, capacity, per-key limits) and the Lambda environment variables they
 * become. Each function takes the variables of the settings it reads; a bad value fails the synth, not
 * the deployed functions' cold start.
 */
import type { Duration } from 'aws-cdk-lib';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import {
  allowedChoicesEnvironment,
  defaultChoicesEnvironment,
  parseGenerationOffer,
  type GenerationOffer,
} from '../../functions/commons/domain/luma-options.ts';
import { KEY_LIMIT_SETTINGS } from '../../functions/commons/domain/api-key.ts';
import { checkSetting, defaultOf, settingsEnvironment } from '../../functions/commons/settings/reader.ts';

/** Per-key limits every key gets unless it has its own (functions/commons/domain/api-key.ts). */
export interface KeyLimitSettings {
  /** Generations a key may create a minute. @default 600 */
  readonly ratePerMinute?: number;
  /** Tasks of a key's owner that may wait for an upstream slot at once. @default 1000 */
  readonly maxQueued?: number;
  /** Tasks of a key's owner that may run upstream at once. @default no cap: fair share governs */
  readonly maxConcurrent?: number;
}

/** KEY_RATE_PER_MINUTE, KEY_MAX_QUEUED and, when a cap is set, KEY_MAX_CONCURRENT; bad values fail the synth. */
export function keyLimitEnvironment(settings: KeyLimitSettings): Record<string, string> {
  const limit = (name: keyof KeyLimitSettings): number | undefined => {
    const setting = KEY_LIMIT_SETTINGS[name];
    const value = settings[name] ?? defaultOf(setting);
    return value === undefined ? undefined : checkSetting(setting, value);
  };
  return settingsEnvironment({
    keyRatePerMinute: limit('ratePerMinute'),
    keyMaxQueued: limit('maxQueued'),
    keyMaxConcurrent: limit('maxConcurrent'),
  });
}

/** How many generations may be in flight upstream, how many may start a minute, and how long a task may wait for one. */
export interface CapacitySettings {
  /** @default 10 (Luma's Build tier) */
  readonly maxConcurrent?: number;
  /** @default 20 (Luma's Build tier) */
  readonly maxCreatesPerMinute?: number;
  /** How long a task may wait in its owner's queue for a slot before it fails (`deadline_exceeded`). @default 24 hours */
  readonly queueTimeout?: Duration;
}

/** UPSTREAM_MAX_CONCURRENT, UPSTREAM_MAX_CREATES_PER_MINUTE and QUEUE_TIMEOUT_SECONDS; bad values fail the synth. */
export function capacityEnvironment(settings: CapacitySettings): Record<string, string> {
  const queueTimeoutSeconds = settings.queueTimeout?.toSeconds() ?? defaultOf('queueTimeout');
  return settingsEnvironment({
    upstreamMaxConcurrent: checkSetting(
      'upstreamMaxConcurrent',
      settings.maxConcurrent ?? defaultOf('upstreamMaxConcurrent'),
      'maxConcurrent (upstreamMaxConcurrent)',
    ),
    upstreamMaxCreatesPerMinute: checkSetting(
      'upstreamMaxCreatesPerMinute',
      settings.maxCreatesPerMinute ?? defaultOf('upstreamMaxCreatesPerMinute'),
      'maxCreatesPerMinute (upstreamMaxCreatesPerMinute)',
    ),
    queueTimeout: checkSetting('queueTimeout', queueTimeoutSeconds, 'queueTimeoutHours', `${queueTimeoutSeconds / 3600} hours`),
  });
}

/** A list setting: entries in a list, or separated by commas. */
export type ListSetting = string | readonly string[];

/**
 * The upstream, and what the gateway asks it for. Values are Luma's (functions/commons/domain/luma-options.ts);
 * a value Luma does not know, an empty list or a default that is not allowed fails the synth.
 */
export interface UpstreamSettings {
  /** @default 'https://api.lumalabs.ai/dream-machine/v1' */
  readonly baseUrl?: string;
  /** The model of a request that names none: `ray-2` or `ray-flash-2`. @default 'ray-2' */
  readonly model?: string;
  /** The resolution of a request that names none: `540p`, `720p`, `1080p` or `4k`. @default '720p' */
  readonly resolution?: string;
  /** The duration of a request that names none: `5s` or `9s`. @default '5s' */
  readonly duration?: string;
  /** The models a request may name. @default all: ray-2, ray-flash-2 */
  readonly allowedModels?: ListSetting;
  /** The resolutions a request may name (e.g. leave out `4k`). @default all: 540p, 720p, 1080p, 4k */
  readonly allowedResolutions?: ListSetting;
  /** The durations a request may name. @default all: 5s, 9s */
  readonly allowedDurations?: ListSetting;
  /**
   * How often the poll may submit a task again after the upstream failed it on its own side ("Job failed",
   * "Error dispatching job"), a whole number from 0 to 5. @default 1
   */
  readonly resubmits?: number;
}

/** The models, resolutions and durations the settings offer; throws, naming the CDK context key, when they are wrong. */
export function generationOffer(settings: UpstreamSettings): GenerationOffer {
  return parseGenerationOffer(
    {
      model: { default: settings.model, allowed: settings.allowedModels },
      resolution: { default: settings.resolution, allowed: settings.allowedResolutions },
      duration: { default: settings.duration, allowed: settings.allowedDurations },
    },
    'context',
  );
}

/**
 * The upstream's address and the defaults every submit sends (LUMA_MODEL, LUMA_RESOLUTION, LUMA_DURATION);
 * the key itself stays in Secrets Manager, named here by ARN only.
 */
export function upstreamEnvironment(settings: UpstreamSettings, key: ISecret): Record<string, string> {
  return {
    ...settingsEnvironment({ upstreamBaseUrl: settings.baseUrl ?? defaultOf('upstreamBaseUrl') }),
    ...defaultChoicesEnvironment(generationOffer(settings)),
    ...settingsEnvironment({ upstreamKeySecretArn: key.secretArn }),
  };
}

/** What a request may ask for (ALLOWED_MODELS, ALLOWED_RESOLUTIONS, ALLOWED_DURATIONS): for the API, which admits requests. */
export function offeredChoicesEnvironment(settings: UpstreamSettings): Record<string, string> {
  return allowedChoicesEnvironment(generationOffer(settings));
}

/** UPSTREAM_RESUBMITS, for the poll, which submits again what the upstream failed on its own side. */
export function resubmitEnvironment(settings: UpstreamSettings): Record<string, string> {
  return settingsEnvironment({ upstreamResubmits: checkSetting('upstreamResubmits', settings.resubmits ?? defaultOf('upstreamResubmits')) });
}

/**
 * When the workflow reads the upstream (functions/commons/domain/poll-schedule.ts). With callbacks the
 * upstream's callback ends each wait and polling is a sparse fallback; without, polling is adaptive: the
 * first poll near the typical time, then every `pollInterval` or more, never more than `maxPollsPerTask`.
 */
export interface PollingSettings {
  /** The upstream calls back on each change (Luma does). @default true */
  readonly upstreamCallbacks?: boolean;
  /** While callbacks are expected, the longest a generation goes without a poll: whole seconds, 1 to 3600. @default 60 seconds */
  readonly callbackFallback?: Duration;
  /** Without callbacks: the typical time of a ray-2 5 s 720p generation, until recent completions say otherwise. @default 120 seconds */
  readonly typicalPrior?: Duration;
  /** No task is polled more often (a read on a callback is no poll). @default 40 */
  readonly maxPollsPerTask?: number;
}

/** The polling settings as they stand after the synth's checks. */
export interface CheckedPolling {
  readonly upstreamCallbacks: boolean;
  readonly callbackFallbackSeconds: number;
  readonly typicalPriorSeconds: number;
  readonly maxPollsPerTask: number;
}

/** The settings, checked against the catalogue's bounds (a bad value fails the synth, naming its context key). */
export function checkPolling(settings: PollingSettings): CheckedPolling {
  const fallback = settings.callbackFallback?.toSeconds({ integral: false }) ?? defaultOf('pollFallback');
  const prior = settings.typicalPrior?.toSeconds({ integral: false }) ?? defaultOf('pollPrior');
  return {
    upstreamCallbacks: settings.upstreamCallbacks ?? defaultOf('upstreamCallbacks'),
    callbackFallbackSeconds: checkSetting('pollFallback', fallback, 'callbackFallback (pollFallbackSeconds)'),
    typicalPriorSeconds: checkSetting('pollPrior', prior, 'typicalPrior (pollPriorSeconds)'),
    maxPollsPerTask: checkSetting('maxPollsPerTask', settings.maxPollsPerTask ?? defaultOf('maxPollsPerTask'), 'maxPollsPerTask'),
  };
}

/**
 * What the functions that read the upstream (Poll, and the API on a callback) need to know of the schedule;
 * POLL_FALLBACK_SECONDS also goes to every function that starts a run: a run's first wait is it.
 */
export function pollingEnvironment(polling: CheckedPolling, pollIntervalSeconds: number): Record<string, string> {
  return settingsEnvironment({
    upstreamCallbacks: polling.upstreamCallbacks,
    pollFallback: polling.callbackFallbackSeconds,
    pollPrior: polling.typicalPriorSeconds,
    maxPollsPerTask: polling.maxPollsPerTask,
    pollInterval: pollIntervalSeconds,
  });
}
