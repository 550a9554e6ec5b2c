/**
 * Idempotency records, one per owner and Idempotency-Key, claimed so that of two identical requests
 * arriving together exactly one creates the task. Expired records can be claimed again.
 */

export interface IdempotencyRecord {
  fingerprint: string;
  taskId: string;
  /** `abandoned`: no longer written (claims are now released instead); still claimable where one is left. */
  state: 'in_progress' | 'done' | 'abandoned';
  /** The status the first request was answered with, and its body when it was an error. */
  statusCode?: number;
  errorBody?: string;
  expiresAt: number;
}

/** `record`: the claim just written, or the record of the request that came first. */
export type Claim = { claimed: boolean; record: IdempotencyRecord };

export interface IdempotencyStore {
  /** Claims the key for `taskId` unless another request holds it (then its record is returned). */
  claim(owner: string, key: string, fingerprint: string, taskId: string): Promise<Claim>;
  get(owner: string, key: string): Promise<IdempotencyRecord | undefined>;
  /** Settles a claim with the answer the first request got; only the claim's own task may settle it. */
  settle(owner: string, key: string, claimed: IdempotencyRecord): Promise<void>;
  /** Deletes a claim whose request got no lasting answer; only the claim's own task may delete it. */
  release(owner: string, key: string, taskId: string): Promise<void>;
}
