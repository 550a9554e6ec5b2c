import { S3Client } from '@aws-sdk/client-s3';

// Path-style addressing is for S3-compatible stores (the local emulator, MinIO); AWS uses virtual hosts.
export const s3 = new S3Client({ forcePathStyle: process.env.S3_FORCE_PATH_STYLE === 'true' });

/**
 * The client that presigns uploads. The SDK's default flexible checksums would put the CRC32 of the empty
 * body it knows at presign time into a presigned PutObject (`x-amz-checksum-crc32=AAAAAA==`), and S3 would
 * then refuse every upload whose bytes are not empty: checksums are computed only when an operation
 * requires one. (The local runtime turns them off for every client; AWS's Lambda environment does not.)
 */
export const s3Presigner = new S3Client({
  forcePathStyle: process.env.S3_FORCE_PATH_STYLE === 'true',
  requestChecksumCalculation: 'WHEN_REQUIRED',
});
