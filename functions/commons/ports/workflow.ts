/**
 * The generation workflow, one run per task at a time: started when the task is admitted, and restarted by
 * the reconciler when a run ended without finishing its task.
 */

/** What every run of the generation workflow starts from. */
export interface WorkflowInput {
  taskId: string;
}

/** `wait` waits again (`waitSeconds`); `copy` stores the output; `completed`/`failed` end the run. */
export type NextStep = 'wait' | 'copy' | 'completed' | 'failed';

/**
 * What ends one of the workflow's waits: the next step, and the length of the next wait (whole seconds,
 * 1 to 3600: a state's TimeoutSecondsPath must select a positive integer).
 */
export interface WorkflowTurn extends WorkflowInput {
  next: NextStep;
  waitSeconds: number;
}

export type RunStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'PENDING_REDRIVE';

export interface Workflow {
  /** Starts run `run` (1 unless the reconciler restarts it) of the task's workflow; starting one that exists already is not an error. */
  start(input: WorkflowInput, run?: number): Promise<void>;
  /** The status of one run, or undefined when it was never started. */
  status(taskId: string, run: number): Promise<RunStatus | undefined>;
  /**
   * Ends the wait that `token` stands for, with `turn` as what it found. False when that wait is over
   * already (it timed out, or was ended): the run has moved on, and its next turn reads the task afresh.
   */
  wake(token: string, turn: WorkflowTurn): Promise<boolean>;
  /**
   * Stops whichever run of the task's workflow is running, saying why; nothing when none is. A step
   * already running (a Lambda invocation) finishes on its own: the task's store decides what it may still
   * change.
   */
  stop(taskId: string, cause: string): Promise<void>;
}
