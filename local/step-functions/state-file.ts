/**
 * The executions on disk, so that a restart finds every execution again and resumes the running ones.
 */
import { readFileSync } from 'node:fs';
import { replacePrivateFile } from '../private-files.ts';
import type { ExecutionRecord } from './records.ts';

/** Step Functions keeps closed executions for 90 days; the state file does the same. */
const RETENTION_MS = 90 * 24 * 60 * 60 * 1000;

/**
 * Persists executions with write-to-temp + rename so a crash never leaves half a file (0600: the inputs
 * hold prompts and owners).
 * Writes are coalesced: hundreds of executions changing status at once cost one write
 * in flight plus at most one queued, each with the latest snapshot.
 */
export class StateFile {
  private writing: Promise<void> | undefined;
  private dirty = false;
  private failure: unknown;

  constructor(
    private readonly path: string,
    private readonly snapshot: () => string,
    private readonly log: (line: string) => void,
  ) {}

  load(): ExecutionRecord[] {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    let parsed: { executions?: ExecutionRecord[] };
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new Error(`State file ${this.path} is not valid JSON: ${(error as Error).message}`);
    }
    if (!Array.isArray(parsed.executions)) throw new Error(`State file ${this.path} has no executions list`);
    return parsed.executions.filter(isRetained);
  }

  schedule(): void {
    this.dirty = true;
    this.writing ??= this.drain();
  }

  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.failure !== undefined) {
      const failure = this.failure;
      this.failure = undefined;
      throw failure;
    }
  }

  private async drain(): Promise<void> {
    try {
      while (this.dirty) {
        this.dirty = false;
        await this.write(this.snapshot());
      }
    } catch (error) {
      // Kept for flush() to rethrow; an unawaited rejection here would crash the process.
      this.failure = error;
      this.log(`could not persist executions to ${this.path}: ${(error as Error).message}`);
    } finally {
      this.writing = undefined;
    }
  }

  private async write(text: string): Promise<void> {
    await replacePrivateFile(this.path, text);
  }
}

function isRetained(record: ExecutionRecord): boolean {
  return record.status === 'RUNNING' || !record.stopDate || Date.now() - Date.parse(record.stopDate) < RETENTION_MS;
}
