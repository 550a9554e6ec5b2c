/**
 * Which task an upstream generation belongs to. A generation is recorded on a task only after this claim
 * succeeds, so one upstream generation can never be the output of two tasks — not even when two tasks
 * find the same generation through the upstream's list.
 */
export interface UpstreamClaims {
  /**
   * Records that `upstreamId` (at `provider`) belongs to `taskId`. True when it now does (also when it
   * already did); false when another task holds it.
   */
  claim(provider: string, upstreamId: string, taskId: string): Promise<boolean>;
}
