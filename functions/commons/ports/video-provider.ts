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
  /** The task's marker (domain/upstream-marker.ts), for the provider to send so that it is echoed back. */
  marker?: string;
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
   * Every generation created since `since` that carries exactly this marker, oldest first: how a submit
   * that may have created something without our hearing of it (a timeout after sending, a crash) is found
   * again instead of being duplicated. Never a match by likeness: the upstream account is shared, and a
   * generation that merely looks like ours is someone else's.
   */
  findByMarker(marker: string, since: Date): Promise<UpstreamGeneration[]>;
  /**
   * Deletes a generation upstream (its record and assets there); one that is already gone is not an
   * error. Throws UpstreamRejectedError when the upstream refuses (Luma: assumed for a generation still in
   * progress, see local/simulated-luma.ts) and TransientUpstreamError as for any call.
   */
  delete(upstreamId: string): Promise<void>;
}
