/**
 * The example consumer (infra/constructs/example-consumer.ts, off by default): an EventBridge rule on the
 * gateway's `Generation Completed` invokes it, and it writes `generations/{id}/metadata.json` beside the
 * video (metadata.ts).
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { s3 } from '../commons/clients/s3.ts';
import { settings } from '../commons/config.ts';
import { log } from '../commons/log.ts';
import { metadataFor, type CompletedEvent } from './metadata.ts';

const bucket = settings.bucketName();

export const handler = async (event: CompletedEvent): Promise<void> => {
  const object = metadataFor(event, bucket);
  if (!object) return log({ msg: 'event ignored', detailType: event['detail-type'], eventId: event.id });
  await s3.send(new PutObjectCommand({ Bucket: object.bucket, Key: object.key, Body: object.body, ContentType: 'application/json' }));
  log({ msg: 'metadata written', key: object.key, eventId: event.id });
};
