/**
 * A secret the gateway reads (the upstream's API key), held in memory for a while so that a change the
 * operator makes is seen within minutes, without a deploy.
 */
export interface CachedSecret {
  /** The secret: from memory while the last read is young enough, else read again. */
  (): Promise<string>;
  /** Drops the secret held: the next call reads it again (the upstream refused the key). */
  forget(): void;
}
