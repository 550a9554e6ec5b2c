/**
 * The data dir holds the local AWS credentials, the client key, the upstream key and every stored video:
 * it is readable by its owner only (0700), and the files the runtime writes there are 0600 whether they
 * are new or left by an older version.
 */
import { chmodSync, closeSync, fchmodSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { chmod, mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates the directory (and missing parents) for its owner only, and tightens one that exists. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(dir, PRIVATE_DIR_MODE);
}

/** Writes the file with mode 0600; a mode given at creation only applies to new files, so it is set again. */
export function writePrivateFile(path: string, text: string): void {
  const fd = openSync(path, 'w', PRIVATE_FILE_MODE);
  try {
    fchmodSync(fd, PRIVATE_FILE_MODE);
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** Creates the file with mode 0600 unless it exists; true when this call created it. */
export function createPrivateFile(path: string, text: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', PRIVATE_FILE_MODE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  return true;
}

let temporaryFiles = 0;

/**
 * Writes a sibling temp file (0600) then renames it over the target, so a crash never leaves half a file.
 * Each call has a temp file of its own, so two writes in flight never mix; a failed one removes its own.
 */
export async function replacePrivateFile(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: PRIVATE_DIR_MODE });
  const temporary = `${path}.${process.pid}.${++temporaryFiles}.tmp`;
  try {
    await writeFile(temporary, text, { mode: PRIVATE_FILE_MODE });
    await chmod(temporary, PRIVATE_FILE_MODE); // a temp file left by a crash keeps its old mode otherwise
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
}
