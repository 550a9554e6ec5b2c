/** The fixed identity of the local "AWS account" that the emulators and the local runtime share. */
export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT = '000000000000';
/** s3rver accepts exactly this key pair; the other emulators accept any. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
/** The local table, and the file a running gateway writes so tools can find its DynamoDB emulator. */
export const LOCAL_TABLE_NAME = 'luma-gateway';
export const ENDPOINTS_FILE = 'endpoints.json';
