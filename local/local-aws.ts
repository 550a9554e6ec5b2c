/** The identity of the local "AWS account" that the emulators and the local runtime share. */
import { chmodSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createPrivateFile, PRIVATE_FILE_MODE } from './private-files.ts';

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT = '000000000000';
/** The local table, and the file a running gateway writes so tools can find its DynamoDB emulator. */
export const LOCAL_TABLE_NAME = 'luma-gateway';
export const ENDPOINTS_FILE = 'endpoints.json';
/** The data dir's own AWS key pair, the only one its local endpoints accept. */
export const CREDENTIALS_FILE = 'aws-credentials.json';

export interface LocalCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * The key pair of a data dir: generated at its first start, then read back, so the functions of a
 * restarted gateway and `npm run keys` against a running one sign with the key its endpoints accept.
 * The caller must have created the data dir (0700); the file is 0600.
 */
export function localCredentials(dataDir: string): LocalCredentials {
  const path = join(dataDir, CREDENTIALS_FILE);
  const generated: LocalCredentials = {
    accessKeyId: `LKIA${randomBytes(8).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString('base64'),
  };
  if (!createPrivateFile(path, `${JSON.stringify(generated)}\n`)) chmodSync(path, PRIVATE_FILE_MODE);
  const saved = JSON.parse(readFileSync(path, 'utf8')) as Partial<LocalCredentials>;
  if (typeof saved.accessKeyId !== 'string' || !saved.accessKeyId || typeof saved.secretAccessKey !== 'string' || !saved.secretAccessKey) {
    throw new Error(`${path} does not hold an accessKeyId and a secretAccessKey: delete it to have a new pair generated.`);
  }
  return { accessKeyId: saved.accessKeyId, secretAccessKey: saved.secretAccessKey };
}
