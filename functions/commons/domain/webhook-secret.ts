/**
 * Webhook signing secrets, one per client key: `whsec_` and 256 random bits in Base64, the form Standard
 * Webhooks' libraries take (they sign with what follows the prefix, Base64-decoded). The key's record holds
 * it (ports/api-key-store.ts): it is a secret, shown only by `npm run keys` and never logged. After a
 * rotation the previous secret keeps signing, beside the new one, for a day: Standard Webhooks lets a
 * `webhook-signature` carry several signatures, so a receiver still on the old secret verifies meanwhile.
 */
import { randomBytes } from 'node:crypto';

export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** How long a rotated-out secret still signs, beside the new one. */
export const PREVIOUS_SECRET_GRACE_MS = 24 * 60 * 60 * 1000;

/** 24 to 64 bytes in Base64 after the prefix: what Standard Webhooks asks of a secret. */
const SECRET = /^whsec_[A-Za-z0-9+/]{32,88}={0,2}$/;

export function generateWebhookSecret(): string {
  return `${WEBHOOK_SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

export function isWebhookSecret(value: string): boolean {
  if (!SECRET.test(value)) return false;
  const bytes = Buffer.from(value.slice(WEBHOOK_SECRET_PREFIX.length), 'base64').length;
  return bytes >= 24 && bytes <= 64;
}

/** What a key's record keeps of its webhook secrets. */
export interface WebhookSecrets {
  webhookSecret?: string;
  /** The secret a rotation replaced, and when: it signs too for PREVIOUS_SECRET_GRACE_MS. */
  previousWebhookSecret?: string;
  webhookSecretRotatedAt?: string;
}

/** The record's secrets after a rotation to `next` at `now` (the first secret of a key is no rotation). */
export function rotated(current: WebhookSecrets, next: string, now: Date): Required<Pick<WebhookSecrets, 'webhookSecret'>> & WebhookSecrets {
  if (!current.webhookSecret) return { webhookSecret: next };
  return { webhookSecret: next, previousWebhookSecret: current.webhookSecret, webhookSecretRotatedAt: now.toISOString() };
}

/** The secrets that sign a delivery at `now`: the key's own, then a rotated-out one still within its grace. */
export function signingSecrets(secrets: WebhookSecrets, now: Date): string[] {
  const previous =
    secrets.previousWebhookSecret && secrets.webhookSecretRotatedAt && now.getTime() - Date.parse(secrets.webhookSecretRotatedAt) < PREVIOUS_SECRET_GRACE_MS
      ? [secrets.previousWebhookSecret]
      : [];
  return [...(secrets.webhookSecret ? [secrets.webhookSecret] : []), ...previous];
}
