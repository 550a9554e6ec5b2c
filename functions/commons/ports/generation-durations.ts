/**
 * How long recent generations took, per kind (model, resolution, duration): what adaptive polling learns
 * the typical time from (domain/poll-schedule.ts).
 */
export interface GenerationDurations {
  /** The kind's most recent completion times, in seconds from submit to completion, oldest first. */
  recent(kind: string): Promise<number[]>;
  /** Counts one completion of the kind. Statistics: a write that loses a race may be dropped. */
  record(kind: string, seconds: number): Promise<void>;
}
