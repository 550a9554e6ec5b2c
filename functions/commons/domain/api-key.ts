import { createHash, randomBytes } from 'node:crypto';
import { SETTINGS, type SettingName } from '../settings/catalogue.ts';

/**
 * Client API keys are random and long, so a plain SHA-256 is a safe way to store them: the table holds
 * only hashes, and a key is found by looking up its hash, so our code never compares secret bytes
 * (nothing to leak through timing).
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A new key: a recognisable prefix (so leaked keys can be spotted by scanners) and 256 random bits. */
export function generateApiKey(): string {
  return `lvg_${randomBytes(32).toString('base64url')}`;
}

/**
 * What `keys list` shows and `keys revoke` matches: enough to recognise a key, useless to use it. Only for
 * keys the gateway generated (`lvg_` and 8 of at least 192 random bits): a key an operator chose may be
 * short or guessable, and its first 12 characters could be half of it, so none is stored for those.
 */
export function keyPrefix(key: string): string {
  return key.slice(0, 12);
}

/**
 * A new owner (tenant): `own_` and 128 random bits. Owners are never derived from a key's name, so a key
 * created with the name of a revoked one starts with nothing; a key joins an existing owner only when the
 * operator names that owner.
 */
export function newOwnerId(): string {
  return `own_${randomBytes(16).toString('hex')}`;
}

/** Owners an operator names (`keys create --owner`): ids, not prose, so they sit in item keys and logs as they are. */
export const OWNER_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** What `keys list` shows in place of a prefix for a key that has none stored (an operator-chosen one). */
export const NO_PREFIX = '—';

/**
 * Keys are visible ASCII, 1 to 256 characters. Generated keys are long; a key an operator chose for a local
 * run may be as short as `dev`: it is still only ever looked up by its hash, and a deployed gateway holds
 * generated keys alone, so accepting short tokens makes no key there easier to guess.
 */
export const API_KEY_PATTERN = /^[\x21-\x7e]{1,256}$/;
const BEARER = /^Bearer[ \t]+([\x21-\x7e]{1,256})[ \t]*$/i;

/**
 * How a key the operator supplied is shown back (at `npm start`): enough to tell keys apart, never the key,
 * so it does not end up in terminal scrollback and CI logs.
 */
export function maskApiKey(key: string): string {
  const shown = key.slice(0, Math.min(4, Math.floor(key.length / 2)));
  return `${shown}… (${key.length} character${key.length === 1 ? '' : 's'})`;
}

/** The key from an `Authorization: Bearer <key>` header, or undefined when the header is absent or malformed. */
export function bearerToken(header: string | undefined): string | undefined {
  return header ? BEARER.exec(header)?.[1] : undefined;
}

/**
 * Per-key limits; a key without its own uses the deployment's defaults. They protect the gateway without
 * refusing a batch: a key's tasks beyond the free upstream slots are queued, not refused, and share the
 * slots fairly with other owners' (fair-share.ts). The queue and the running cap belong to the key's
 * owner (keys of one owner share one queue); the one whose key enqueues sets them.
 */
export interface KeyLimits {
  /** Generations a key may create a minute (429 beyond). */
  ratePerMinute: number;
  /** The owner's tasks that may wait for an upstream slot at once (429 beyond). */
  maxQueued: number;
  /** The owner's tasks that may run upstream at once; undefined: no cap, fair share governs. */
  maxConcurrent?: number;
  /** The owner's share of the upstream slots against other owners' (running / weight is compared). */
  weight: number;
}

/**
 * Every per-key limit, as the settings catalogue has it: its default, its bounds, and what sets it (the
 * deployment's default through an environment variable and a CDK context key, a key's own through a
 * `keys create` option).
 */
export const KEY_LIMITS = {
  ratePerMinute: SETTINGS.keyRatePerMinute,
  maxQueued: SETTINGS.keyMaxQueued,
  maxConcurrent: SETTINGS.keyMaxConcurrent,
  weight: SETTINGS.keyWeight,
} as const satisfies Record<keyof KeyLimits, { max: number; option: string }>;

/** The catalogue's name of each limit's setting. */
export const KEY_LIMIT_SETTINGS = {
  ratePerMinute: 'keyRatePerMinute',
  maxQueued: 'keyMaxQueued',
  maxConcurrent: 'keyMaxConcurrent',
  weight: 'keyWeight',
} as const satisfies Record<keyof KeyLimits, SettingName>;

export const DEFAULT_KEY_LIMITS: KeyLimits = {
  ratePerMinute: KEY_LIMITS.ratePerMinute.default,
  maxQueued: KEY_LIMITS.maxQueued.default,
  weight: KEY_LIMITS.weight.default,
};
