import { S3Client } from '@aws-sdk/client-s3';

// Path-style addressing is for S3-compatible stores (the local emulator, MinIO); AWS uses virtual hosts.
export const s3 = new S3Client({ forcePathStyle: process.env.S3_FORCE_PATH_STYLE === 'true' });
