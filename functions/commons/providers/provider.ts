/**
 * The seam between the gateway and a video generation service. Luma's Dream Machine API is the first
 * implementation; Ray2 on Bedrock, Kling, Runway and Pika fit behind the same three ideas: submit,
 * read the current state, and hand back URLs of the finished assets.
 */

/** A request in the provider's terms, keyframes already turned into URLs it can fetch. */
export interface ProviderRequest {
  prompt: string;
  /** The task's model, resolution (`720p`) and duration (`5s`); absent: the provider's configured default. */
  model?: string;
  resolution?: string;
  duration?: string;
  aspectRatio?: string;
  loop?: boolean;
  frame0Url?: string;
  frame1Url?: string;
}

export type UpstreamState = 'queued' | 'dreaming' | 'completed' | 'failed';

export interface UpstreamGeneration {
  id: string;
  state: UpstreamState;
  failureReason?: string;
  videoUrl?: string;
  imageUrl?: string;
}

/**
 * Implementations throw UpstreamRejectedError for a permanent refusal and TransientUpstreamError for
 * anything worth retrying; they never retry themselves, because the workflow owns retries and backoff.
 */
export interface VideoProvider {
  readonly name: string;
  readonly model: string;
  submit(request: ProviderRequest): Promise<UpstreamGeneration>;
  get(upstreamId: string): Promise<UpstreamGeneration>;
  /**
   * A generation matching the request that the upstream created since `since`, if any: how a submit that
   * died after the upstream accepted it (a timeout, a crash) is found again instead of being duplicated.
   * Matching is by the request's content, since upstreams take no idempotency key.
   */
  findSubmitted(request: ProviderRequest, since: Date): Promise<UpstreamGeneration | undefined>;
}
