/**
 * The optional state file: every generation's record, written atomically after each change and loaded at start.
 */
import { readFile } from 'node:fs/promises';
import { replacePrivateFile } from '../private-files.ts';
import { LUMA_FAILURE_REASONS, createdAtMicros, formatCreatedAt, isPlainObject, validateGenerationRequest, withLumaDefaults } from './contract.ts';
import { parseSimDirectives, type SimGenerationRecord } from './timeline.ts';

/**
 * 2: requests are stored as Luma echoes them, created_at has microseconds, a failed generation stores its
 * reason, and other clients' generations are marked `foreign`. A version 1 file (an earlier `npm start`'s)
 * is upgraded on load rather than refused: its generations are tasks' upstream ids, and refusing the file
 * would strand them, while the upgrade is mechanical. Any other version fails loudly.
 */
const STATE_FILE_VERSION = 2;
/** The version 1 generation_fail reason; the closest verbatim one replaces it. */
const V1_INJECTED_FAILURE_REASON = 'Internal error during generation';

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
  if (!isPlainObject(parsed) || (parsed.version !== 1 && parsed.version !== STATE_FILE_VERSION) || !Array.isArray(parsed.generations)) {
    throw new Error(`Simulated Luma state file ${stateFile} has an unexpected format`);
  }
  const toRecord = parsed.version === 1 ? upgradeV1Record : toV2Record;
  return parsed.generations.map((entry, index) => toRecord(entry, `${stateFile} entry ${index}`));
}

function toV2Record(entry: unknown, where: string): SimGenerationRecord {
  const valid =
    isPlainObject(entry) &&
    typeof entry.id === 'string' &&
    typeof entry.created_at === 'string' &&
    !Number.isNaN(createdAtMicros(entry.created_at)) &&
    (entry.outcome === 'complete' || entry.outcome === 'fail') &&
    (entry.failure_reason === undefined || typeof entry.failure_reason === 'string') &&
    (entry.foreign === undefined || entry.foreign === true) &&
    isPlainObject(entry.request) &&
    entry.request.generation_type === 'video' &&
    validateGenerationRequest(entry.request).ok;
  if (!valid) throw new Error(`Simulated Luma state file: invalid generation at ${where}`);
  const record = entry as unknown as SimGenerationRecord;
  return { ...record, request: withLumaDefaults(record.request) };
}

function upgradeV1Record(entry: unknown, where: string): SimGenerationRecord {
  const validation = isPlainObject(entry) ? validateGenerationRequest(entry.request) : undefined;
  const valid =
    isPlainObject(entry) &&
    typeof entry.id === 'string' &&
    typeof entry.created_at === 'string' &&
    !Number.isNaN(Date.parse(entry.created_at)) &&
    (entry.outcome === 'complete' || entry.outcome === 'fail') &&
    (entry.failure_reason === undefined || typeof entry.failure_reason === 'string') &&
    validation?.ok === true;
  if (!valid || !validation.ok) throw new Error(`Simulated Luma state file: invalid generation at ${where}`);
  const request = withLumaDefaults(validation.request);
  const outcome = entry.outcome as SimGenerationRecord['outcome'];
  const failureReason =
    entry.failure_reason === V1_INJECTED_FAILURE_REASON
      ? LUMA_FAILURE_REASONS.job_failed
      : (parseSimDirectives(request.prompt).failureReason ?? LUMA_FAILURE_REASONS.blacklisted);
  return {
    id: entry.id as string,
    created_at: formatCreatedAt(Date.parse(entry.created_at as string) * 1000),
    request,
    outcome,
    ...(outcome === 'fail' && { failure_reason: failureReason }),
  };
}

/** Writes to a sibling temp file then renames, so a crash never leaves half a file (0600: the requests hold prompts). */
export async function writeRecordsAtomically(stateFile: string, records: SimGenerationRecord[]): Promise<void> {
  await replacePrivateFile(stateFile, JSON.stringify({ version: STATE_FILE_VERSION, generations: records }));
}

function isErrnoCode(error: unknown, code: string): boolean {
  return isPlainObject(error) && error.code === code;
}
