/**
 * Where tasks are kept. Every write is conditional on the version that was read, so two writers (a retried
 * poll, a late copy) can never interleave; `transition` is the single place where a task changes status.
 */
import type { AttemptOutcome } from '../domain/submit-attempt.ts';
import type { Task, TaskChange, TaskPhase, WorkflowWait } from '../domain/task.ts';
import type { ListPage } from '../domain/generation-list.ts';

export interface TransitionResult {
  task: Task;
  /** False when the task had already reached that status: the change was a repeat and nothing was written. */
  changed: boolean;
}

export interface TaskStore {
  create(task: Task): Promise<void>;
  get(id: string): Promise<Task | undefined>;
  /** Applies the change (domain/task.ts); throws TransitionRefusedError when the task is missing or the lifecycle forbids it. */
  transition(id: string, change: TaskChange): Promise<TransitionResult>;
  /**
   * Begins a submit attempt: takes the task's submit lease if the task is still waiting and nobody holds
   * the lease (domain/submit-attempt.ts). `task` is the task as the attempt begins.
   */
  claimSubmit(id: string, now: Date, leaseMs: number): Promise<{ claimed: false } | { claimed: true; task: Task }>;
  /**
   * Ends the attempt that began at `attemptedAt` without a generation for the task, and gives the lease
   * back; does nothing when that attempt is no longer the task's current one.
   */
  releaseSubmit(id: string, attemptedAt: string, outcome: AttemptOutcome): Promise<void>;
  /**
   * Marks the task admitted (given an upstream slot) if it is still waiting for one: accepted and not
   * admitted. Its generation deadline starts now. Undefined when it was not waiting (any more).
   */
  admit(id: string, now: Date, generationTimeoutSeconds: number): Promise<Task | undefined>;
  /**
   * Tasks in the owner's queue, in ticket order, after `afterTicket` if given: a page from an index that
   * lags a little behind the table, so a listed task may have left the queue already.
   */
  queued(owner: string, limit: number, afterTicket?: number): Promise<{ id: string; ticket: number }[]>;
  /**
   * Records that the task's first `through` history entries are published (never fewer than recorded
   * before); nothing when the task is gone. `task` is the task as the caller last saw it: written straight
   * away if it is still current, read again if not.
   */
  markPublished(task: Task, through: number): Promise<void>;
  /** Ids of the tasks in a phase (the reconciler's work list), oldest first, a page at a time. */
  listPhase(phase: TaskPhase, cursor?: string): Promise<{ ids: string[]; cursor?: string }>;
  /**
   * Records a read of the upstream for the task, at `at`, and counts it when it was a poll (the poll
   * schedule's ceiling). The task as written.
   */
  noteUpstreamRead(id: string, at: Date, poll: boolean): Promise<Task>;
  /**
   * Records a read of the upstream (not a poll) at `at` before it is made, if `isDue` holds for the task as
   * stored: of reads that race for the same moment, one claims it and the others get undefined. The
   * upstream's callbacks claim their reads, so a flood of them makes no more than one read at a time.
   */
  claimUpstreamRead(id: string, at: Date, isDue: (task: Task) => boolean): Promise<Task | undefined>;
  /**
   * Records the workflow's wait on the task, if the task is still at version `ifVersion` (what the turn
   * that waits read last). Undefined when it changed since: the turn must look again, or it might wait
   * on a change it never saw (a callback that came in between found no wait to end).
   */
  holdWait(id: string, wait: WorkflowWait, ifVersion: number): Promise<Task | undefined>;
  /**
   * One page of the owner's tasks, newest first (domain/task-list.ts): at most `limit` tasks after
   * `page.after`, each read as it is now, in one of `page.statuses` if given; `next` is the position to
   * resume after, absent at the end. Only the owner's own tasks, whatever the position says.
   */
  listOwned(owner: string, page: ListPage): Promise<{ tasks: Task[]; next?: string }>;
  /**
   * Deletes a finished task (completed or failed); never one that is still running. True when it was
   * deleted now; false when it was already gone. Throws TransitionRefusedError when it has not finished.
   */
  remove(id: string): Promise<boolean>;
}
