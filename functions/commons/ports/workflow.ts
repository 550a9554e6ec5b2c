/**
 * The generation workflow, one run per task at a time: started when the task is admitted, and restarted by
 * the reconciler when a run ended without finishing its task.
 */

/** What every run of the generation workflow starts from. */
export interface WorkflowInput {
  taskId: string;
}

export type RunStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'PENDING_REDRIVE';

export interface Workflow {
  /** Starts run `run` (1 unless the reconciler restarts it) of the task's workflow; starting one that exists already is not an error. */
  start(input: WorkflowInput, run?: number): Promise<void>;
  /** The status of one run, or undefined when it was never started. */
  status(taskId: string, run: number): Promise<RunStatus | undefined>;
}
