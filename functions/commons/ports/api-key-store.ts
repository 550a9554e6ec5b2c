/**
 * Where client keys are kept: only a key's hash, its settings and, for a key the gateway generated, a
 * short prefix. A revoked key keeps its record (for the audit trail) but no longer authenticates, from the
 * next request on: nothing caches keys.
 */
import type { KeyLimits } from '../domain/api-key.ts';
import type { WebhookSecrets } from '../domain/webhook-secret.ts';

/** A key, with its webhook secrets (domain/webhook-secret.ts): secrets, never logged nor answered. */
export interface ApiKeyRecord extends WebhookSecrets {
  keyHash: string;
  owner: string;
  name: string;
  /** A generated key's first characters, to recognise it in lists; never enough to use it. None for an operator-chosen key. */
  prefix?: string;
  createdAt: string;
  lastUsedAt?: string;
  revokedAt?: string;
  /** Overrides of the deployment's default limits. */
  limits?: Partial<KeyLimits>;
}

export interface ApiKeyStore {
  /** The active key with this hash, or undefined for an unknown or revoked key. */
  find(keyHash: string): Promise<ApiKeyRecord | undefined>;
  /** Adds a key; refuses to overwrite one with the same hash (a collision would be a bug, not a rotation). */
  put(record: ApiKeyRecord): Promise<void>;
  /** Records a use of the key; skipped while the recorded use is recent enough (no write per request). */
  touch(key: ApiKeyRecord, now: Date): Promise<void>;
  /**
   * The webhook secrets of the key with this hash, revoked or not (a task it created before its revocation
   * still has its deliveries signed); undefined for an unknown key.
   */
  webhookSecrets(keyHash: string): Promise<WebhookSecrets | undefined>;
}
