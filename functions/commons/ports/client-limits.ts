/** A key's limits (domain/api-key.ts), and its create rate, so that one client cannot flood the gateway. */
import type { KeyLimits } from '../domain/api-key.ts';
import type { ApiKeyRecord } from './api-key-store.ts';

export interface ClientLimits {
  /** The key's limits: its own where it has them, the deployment's defaults otherwise. */
  of(key: Pick<ApiKeyRecord, 'limits'>): KeyLimits;
  /** Counts one more create for the key, or throws TooManyRequestsError with the window's Retry-After. */
  admit(key: ApiKeyRecord): Promise<void>;
}
