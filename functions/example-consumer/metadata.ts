/**
 * What the example consumer writes beside each stored video: `generations/{id}/metadata.json`, from the
 * gateway's `Generation Completed` event alone (it never calls the gateway). Pure. An example of a consumer
 * of your own: parse `detail` with the published schema, act idempotently (EventBridge delivers at least
 * once: the same event may come twice, and writing the same object again is harmless).
 */
import { generationEventDetailSchema } from '../commons/domain/generation-event-detail.ts';

/** The parts of an EventBridge event the consumer reads. */
export interface CompletedEvent {
  id: string;
  time: string;
  'detail-type': string;
  detail: unknown;
}

export interface MetadataObject {
  bucket: string;
  key: string;
  body: string;
}

/** The metadata object for a completed generation whose video is in `bucket`; undefined for any other event. */
export function metadataFor(event: CompletedEvent, bucket: string): MetadataObject | undefined {
  const detail = generationEventDetailSchema.parse(event.detail);
  const video = detail.video;
  if (detail.state !== 'completed' || !video || video.bucket !== bucket) return undefined;
  const folder = video.key.slice(0, video.key.lastIndexOf('/') + 1);
  return {
    bucket,
    key: `${folder}metadata.json`,
    body: `${JSON.stringify(
      {
        id: detail.id,
        completed_at: event.time,
        video: { key: video.key, sha256: video.sha256, size_bytes: video.size_bytes, width: video.width, height: video.height, duration: video.duration },
        thumbnail: detail.thumbnail ? { key: detail.thumbnail.key } : null,
        event_id: event.id,
      },
      null,
      2,
    )}\n`,
  };
}
