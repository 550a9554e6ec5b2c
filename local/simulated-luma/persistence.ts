/**
 * The optional state file: every generation's record, written atomically after each change and loaded at start.
 */
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isPlainObject, validateGenerationRequest } from './contract.ts';
import type { SimGenerationRecord } from './timeline.ts';

const STATE_FILE_VERSION = 1;

export async function loadRecords(stateFile: string): Promise<SimGenerationRecord[]> {
  let text: string;
  try {
    text = await readFile(stateFile, 'utf8');
  } catch (error) {
    if (isErrnoCode(error, 'ENOENT')) return [];
    throw error;
  }
  // Fail loudly on a damaged file: silently starting empty would make every
  // in-flight generation look like a 404 to the gateway.
  const parsed: unknown = JSON.parse(text);
  if (!isPlainObject(parsed) || parsed.version !== STATE_FILE_VERSION || !Array.isArray(parsed.generations)) {
    throw new Error(`Simulated Luma state file ${stateFile} has an unexpected format`);
  }
  return parsed.generations.map((entry, index) => toRecord(entry, `${stateFile} entry ${index}`));
}

function toRecord(entry: unknown, where: string): SimGenerationRecord {
  const valid =
    isPlainObject(entry) &&
    typeof entry.id === 'string' &&
    typeof entry.created_at === 'string' &&
    !Number.isNaN(Date.parse(entry.created_at)) &&
    (entry.outcome === 'complete' || entry.outcome === 'fail') &&
    (entry.failure_reason === undefined || typeof entry.failure_reason === 'string') &&
    validateGenerationRequest(entry.request).ok;
  if (!valid) throw new Error(`Simulated Luma state file: invalid generation at ${where}`);
  return entry as unknown as SimGenerationRecord;
}

let tempFileCounter = 0;

/** Writes to a sibling temp file then renames, so a crash never leaves half a file. */
export async function writeRecordsAtomically(stateFile: string, records: SimGenerationRecord[]): Promise<void> {
  await mkdir(dirname(stateFile), { recursive: true });
  const tempFile = `${stateFile}.${process.pid}.${++tempFileCounter}.tmp`;
  const body = JSON.stringify({ version: STATE_FILE_VERSION, generations: records });
  try {
    await writeFile(tempFile, body, 'utf8');
    await rename(tempFile, stateFile);
  } catch (error) {
    await unlink(tempFile).catch(() => undefined);
    throw error;
  }
}

export function isErrnoCode(error: unknown, code: string): boolean {
  return isPlainObject(error) && error.code === code;
}
