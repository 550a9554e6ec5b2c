import { S3Client } from '@aws-sdk/client-s3';
import { lazyClient } from './lazy-client.ts';

// Path-style addressing is for S3-compatible stores (the local emulator, MinIO); AWS uses virtual hosts.
// Both clients are built on first use: an API GET presigns only a finished task's links, a poll only a
// stored keyframe at submit.
export const s3 = /* @__PURE__ */ lazyClient(() => new S3Client({ forcePathStyle: process.env.S3_FORCE_PATH_STYLE === 'true' }));

/**
 * The client that presigns uploads. The SDK's default flexible checksums would put the CRC32 of the empty
 * body it knows at presign time into a presigned PutObject (`x-amz-checksum-crc32=AAAAAA==`), and S3 would
 * then refuse every upload whose bytes are not empty: checksums are computed only when an operation
 * requires one. (The local runtime turns them off for every client; AWS's Lambda environment does not.)
 */
export const s3Presigner = /* @__PURE__ */ lazyClient(
  () => new S3Client({ forcePathStyle: process.env.S3_FORCE_PATH_STYLE === 'true', requestChecksumCalculation: 'WHEN_REQUIRED' }),
);
