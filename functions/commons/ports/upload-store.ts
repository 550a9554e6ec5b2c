/**
 * Where uploads are recorded: who asked for each, what they announced, until when it may be named.
 */
import type { UploadRecord } from '../domain/upload.ts';

export interface UploadStore {
  /** Records a new upload; its id is fresh (a collision is a fault, never an overwrite). */
  create(record: UploadRecord): Promise<void>;
  /** The upload with this id, whoever owns it, or undefined; expired ones too (the caller decides). */
  get(id: string): Promise<UploadRecord | undefined>;
}
