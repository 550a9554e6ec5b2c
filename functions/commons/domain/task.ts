/**
 * A generation task and its lifecycle, as pure data and pure functions. The store persists what these
 * functions return; nothing here knows about DynamoDB, S3 or the upstream.
 *
 *   accepted ──► submitted ──► dreaming ──► copying ──► completed
 *      │             │            │            │
 *      └─────────────┴────────────┴────────────┴──────► failed
 *
 * `accepted`: recorded, not yet taken by the upstream. An accepted task is first *queued* (it has a ticket
 * in its owner's queue and no workflow execution), then *admitted* (given an upstream slot: its workflow
 * starts and submits it; a transient submit failure leaves it here, admitted, for the workflow to retry). `copying`: the upstream finished; the video is streaming into the bucket, so a
 * client never sees "completed" without a link. Statuses only move forward — but for one guarded step
 * back to `accepted` when the upstream failed a generation on its own side and the task is submitted
 * again — so a late or repeated poll can never move a task back or out of a terminal status.
 */
import type { Failure } from './failure.ts';
import type { ImageType } from '../media/image.ts';
import type { AspectRatio, LumaDuration, LumaResolution } from './luma-options.ts';
import type { WebhookEventName } from './generation-events.ts';

/**
 * A change the lifecycle does not allow: a bug or a race, never user input. The domain's own error, with
 * no HTTP status: the edges map it (errors.ts, `asGatewayError`) to InvalidTransitionError.
 */
export class TransitionRefusedError extends Error {
  override readonly name = 'TransitionRefusedError';
}

export const TASK_STATUSES = ['accepted', 'submitted', 'dreaming', 'copying', 'completed', 'failed'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** A keyframe as the upstream will see it: a client URL passed through, or an image we stored. */
export type Keyframe =
  | { kind: 'url'; url: string }
  | { kind: 'stored'; key: string; contentType: ImageType; bytes: number; width: number; height: number };

export interface TaskRequest {
  prompt: string;
  /** Accepted for compatibility with the aggregator API; the official Luma API has no such switch. */
  expandPrompt?: boolean;
  loop?: boolean;
  /** As the client asked; absent: the upstream's default (Luma: 16:9). */
  aspectRatio?: AspectRatio;
  /**
   * What the task is generated at: the client's choice or the deployment's default when it was recorded
   * (the model is the task's `model`). Absent only in tasks recorded before the gateway sent these: the
   * provider then sends its configured default.
   */
  resolution?: LumaResolution;
  duration?: LumaDuration;
  frame0?: Keyframe;
  frame1?: Keyframe;
}

/** How the task's keyframes reach the upstream: a client's URL, or a link to an image we stored. */
export function keyframeKinds(request: TaskRequest): Keyframe['kind'][] {
  return [request.frame0, request.frame1].flatMap((frame) => (frame ? [frame.kind] : []));
}

/**
 * Where the client asked to be told of the task's changes (`callback_url`, `callback_events`): never sent
 * upstream. `keyHash` names the key that created the task, whose webhook secret signs every delivery.
 */
export interface TaskCallback {
  url: string;
  events: WebhookEventName[];
  keyHash: string;
}

/** Where the upstream keeps the finished assets (its own, possibly short-lived, URLs). */
export interface UpstreamAssets {
  videoUrl: string;
  imageUrl?: string;
}

export interface ImageOutput {
  key: string;
  contentType: string;
  width: number;
  height: number;
  sizeBytes: number;
}

/** Where the copy stores a task's outputs in the owner's bucket. */
export const outputKeys = (taskId: string) => ({
  video: `generations/${taskId}/video.mp4`,
  thumbnail: `generations/${taskId}/thumbnail.jpg`,
});

/**
 * Every object the gateway may have stored for a task: its stored keyframes, and its outputs at the keys
 * the copy writes them to, recorded or not (a copy that ran on after the task was cancelled may have
 * written them). What deleting the task removes; a client's own uploads are not the task's (several
 * tasks may name one) and expire on their own.
 */
export function storedObjectKeys(task: Pick<Task, 'id' | 'request' | 'output'>): string[] {
  const keys = outputKeys(task.id);
  const frames = [task.request.frame0, task.request.frame1].flatMap((frame) => (frame?.kind === 'stored' ? [frame.key] : []));
  const outputs = [task.output?.videoKey, task.output?.thumbnail?.key].filter((key): key is string => key !== undefined);
  return [...new Set([...frames, keys.video, keys.thumbnail, ...outputs])];
}

/** What the copy stored in the owner's bucket. */
export interface TaskOutput {
  videoKey: string;
  sizeBytes: number;
  sha256: string;
  width: number;
  height: number;
  durationSeconds: number;
  thumbnail?: ImageOutput;
}

export interface HistoryEntry {
  status: TaskStatus;
  at: string;
  /** Why, when a status is entered again: the upstream's reason for the generation given up on. */
  note?: string;
}

export interface Task {
  id: string;
  owner: string;
  status: TaskStatus;
  request: TaskRequest;
  provider: string;
  /** The model the task is generated with: the client's choice, or the deployment's default when it was recorded. */
  model: string;
  createdAt: string;
  updatedAt: string;
  /**
   * After this instant the task fails with `deadline_exceeded`. While the task is queued, its queue
   * deadline (createdAt + the queue timeout); from its admission on, its generation deadline (admittedAt
   * + the generation timeout), which the upstream slot's lease follows.
   */
  deadline: string;
  /**
   * The task's ticket in its owner's queue (the owner's enqueue counter): the owner's tasks are admitted in
   * ticket order. Absent in tasks recorded before the queue existed.
   */
  queueTicket?: number;
  /** When the task was given an upstream slot; its workflow runs from then on. Absent while it is queued. */
  admittedAt?: string;
  upstreamId?: string;
  /**
   * This task's marker: the URL sent upstream with every create (Luma echoes it as `callback_url`), which
   * names the task and carries an unguessable token. The only thing by which a listed upstream generation
   * is ever recognised as this task's own (domain/submit-attempt.ts). Absent when the gateway has no
   * public URL the upstream could be given.
   */
  upstreamMarker?: string;
  /**
   * Who is submitting right now: a submit holds this lease while it talks to the upstream, so that the API
   * and a workflow (or two runs) never submit the same task at once.
   */
  submitLeaseUntil?: string;
  /** When the last attempt began, and how it ended (absent while it runs, or when its submitter died). */
  submitAttemptedAt?: string;
  submitAttemptOutcome?: 'clear' | 'ambiguous';
  /** The start of the earliest attempt that may have created a generation no answer told us about. */
  ambiguousSince?: string;
  /**
   * Generations the upstream failed on its own side ("Job failed"), given up on in favour of a new
   * submit: how many times, and which, so that no search ever adopts one of them again.
   */
  resubmits?: number;
  discardedUpstreamIds?: string[];
  upstreamAssets?: UpstreamAssets;
  /** The workflow's polls of the upstream for this task (the poll schedule's ceiling counts them), and when it was last read (by a poll, or on a callback). */
  upstreamReads?: number;
  upstreamReadAt?: string;
  /** The workflow's current wait for this task, while one holds (WorkflowWait). */
  wait?: WorkflowWait;
  output?: TaskOutput;
  failure?: Failure;
  history: HistoryEntry[];
  /** The client's webhook, when it asked for one. */
  callback?: TaskCallback;
  /**
   * How many entries of `history` have been published (EventBridge events and webhook deliveries started,
   * services/publishing.ts): the task itself is the outbox, so a change is never recorded without its
   * publication being owed. Absent in tasks recorded before publishing existed: nothing is owed for them.
   */
  publishedThrough?: number;
  /** Optimistic-concurrency counter: every write is conditional on the version it read. */
  version: number;
}

/**
 * A wait of the task's workflow: the task token that ends it early (the upstream's callback, which reads
 * the truth and reports it with this token) and when it ends on its own (its timeout: the next poll).
 * A token whose wait is over is merely stale: reporting with it fails, and the next turn looks afresh.
 */
export interface WorkflowWait {
  token: string;
  until: string;
}

/** The task read upstream at `at`: one more poll when `poll`. */
export function withUpstreamRead(task: Task, at: string, poll = true): Task {
  const last = task.upstreamReadAt && task.upstreamReadAt > at ? task.upstreamReadAt : at;
  const reads = (task.upstreamReads ?? 0) + (poll ? 1 : 0);
  return { ...task, upstreamReads: reads, upstreamReadAt: last, version: task.version + 1 };
}

/** The task with its workflow waiting on `wait`. */
export function withWorkflowWait(task: Task, wait: WorkflowWait): Task {
  return { ...task, wait, version: task.version + 1 };
}

/** When the task's current generation was accepted upstream: the last time it became `submitted`. */
export function submittedAt(task: Pick<Task, 'history'>): string | undefined {
  return task.history.findLast((entry) => entry.status === 'submitted')?.at;
}

/** Every change a task can undergo. Each names the status it moves to and carries that status's data. */
export type TaskChange =
  | { to: 'submitted'; upstreamId: string }
  | { to: 'dreaming'; upstreamId?: string }
  | { to: 'copying'; assets: UpstreamAssets; upstreamId?: string }
  | { to: 'completed'; output: TaskOutput }
  | { to: 'failed'; failure: Failure }
  /**
   * The one step back: the upstream failed the generation on its own side, so the task is submitted
   * again; it keeps its admission and its upstream slot. Only from the generation named, so a late or
   * repeated poll of it is a no-op.
   */
  | { to: 'accepted'; resubmitOf: string; reason: string };

const RANK: Record<TaskStatus, number> = {
  accepted: 0,
  submitted: 1,
  dreaming: 2,
  copying: 3,
  completed: 4,
  failed: 4,
};

export function isTerminal(status: TaskStatus): boolean {
  return status === 'completed' || status === 'failed';
}

/**
 * A queued task waits in its owner's queue for an upstream slot: it has a ticket, no slot and no workflow
 * execution, so it costs nothing while it waits.
 */
export function isQueued(task: Pick<Task, 'status' | 'admittedAt' | 'queueTicket'>): boolean {
  return awaitsAdmission(task) && task.queueTicket !== undefined;
}

/**
 * Accepted and not yet given a slot. Without a ticket, a task recorded before the queue existed: its own
 * workflow takes a slot for it when one is free.
 */
export function awaitsAdmission(task: Pick<Task, 'status' | 'admittedAt'>): boolean {
  return task.status === 'accepted' && !task.admittedAt;
}

/**
 * Where an unfinished task stands for the reconciler, which looks after every task that has (or should
 * have) a workflow execution: `active`. Queued tasks need nothing from it (they have no execution) and
 * terminal ones are done, so neither has a phase, and both drop out of the index that lists phases.
 * `waiting` is the phase tasks waiting for a slot had before the queue existed: only such tasks have it.
 */
export type TaskPhase = 'active' | 'waiting' | 'publishing';

/**
 * `publishing`: a task the reconciler has nothing else to do for (queued or terminal) whose changes are
 * not all published yet, a publication a crash interrupted: it stays on the reconciler's work list until
 * they are (an active task is on it anyway).
 */
export function phaseOf(task: Pick<Task, 'status' | 'admittedAt' | 'queueTicket' | 'history' | 'publishedThrough'>): TaskPhase | undefined {
  if (!isTerminal(task.status) && !isQueued(task)) return 'active';
  return hasUnpublishedChanges(task) ? 'publishing' : undefined;
}

/** Some change of the task is not published yet. */
export function hasUnpublishedChanges(task: Pick<Task, 'history' | 'publishedThrough'>): boolean {
  return task.publishedThrough !== undefined && task.publishedThrough < task.history.length;
}

/** The task with its first `through` history entries published (never fewer than before). */
export function published(task: Task, through: number): Task {
  if (task.publishedThrough === undefined || through <= task.publishedThrough) return task;
  return { ...task, publishedThrough: Math.min(through, task.history.length), version: task.version + 1 };
}

/** Sorts tasks by arrival; the id breaks ties between tasks created in the same millisecond. */
export function arrivalOrder(task: Pick<Task, 'createdAt' | 'id'>): string {
  return `${task.createdAt}#${task.id}`;
}

/** A ticket as a sort key: zero-padded, so that the owner's queue index sorts tickets as numbers. */
export function queueOrder(ticket: number): string {
  return String(ticket).padStart(15, '0');
}

/**
 * The task given an upstream slot at `at`: its generation deadline starts now (its queue deadline is
 * over), and it leaves its owner's queue (the store drops the queue's index attributes with it).
 */
export function admitted(task: Task, at: Date, generationTimeoutSeconds: number): Task {
  if (!awaitsAdmission(task)) throw new TransitionRefusedError(`Task ${task.id} is not waiting for an upstream slot.`);
  return {
    ...task,
    admittedAt: at.toISOString(),
    deadline: new Date(at.getTime() + generationTimeoutSeconds * 1000).toISOString(),
    version: task.version + 1,
  };
}

/**
 * Upstream slots are held from admission until the upstream says the generation is over; a task sent
 * back to `accepted` for a resubmit keeps its slot.
 */
export function releasesSlot(status: TaskStatus): boolean {
  return status === 'copying' || isTerminal(status);
}

/**
 * True when the task has already reached (or passed) the status a change asks for: repeating a change is
 * then a no-op, which makes every workflow step safe to retry or replay.
 */
export function isAlreadyApplied(task: Task, change: TaskChange): boolean {
  if (change.to === 'accepted') return isTerminal(task.status) || task.status === 'copying' || task.upstreamId !== change.resubmitOf;
  return isTerminal(task.status) || RANK[task.status] >= RANK[change.to];
}

/** The new task after a change. Throws TransitionRefusedError when the lifecycle forbids it. */
export function applyChange(task: Task, change: TaskChange, at: string): Task {
  if (isAlreadyApplied(task, change)) {
    throw new TransitionRefusedError(`Task ${task.id} is ${task.status}; it cannot move to ${change.to}.`);
  }
  if (change.to === 'accepted') return resubmitted(task, change, at);
  const upstreamId = 'upstreamId' in change && change.upstreamId ? change.upstreamId : task.upstreamId;
  if (change.to !== 'failed' && !upstreamId) {
    throw new TransitionRefusedError(`Task ${task.id} has no upstream generation; it cannot move to ${change.to}.`);
  }
  if (change.to === 'completed' && task.status !== 'copying') {
    throw new TransitionRefusedError(`Task ${task.id} must be copied before it completes.`);
  }
  const next: Task = {
    ...task,
    status: change.to,
    upstreamId,
    updatedAt: at,
    history: [...task.history, { status: change.to, at }],
    version: task.version + 1,
  };
  switch (change.to) {
    case 'copying':
      return { ...next, upstreamAssets: change.assets };
    case 'completed':
      return { ...next, output: change.output };
    case 'failed':
      return { ...next, failure: change.failure };
    default:
      return next;
  }
}

/**
 * Back to `accepted` without a generation, still admitted (its slot and deadline stay): the attempt
 * bookkeeping starts afresh, the failed generation is remembered.
 */
function resubmitted(task: Task, change: Extract<TaskChange, { to: 'accepted' }>, at: string): Task {
  const {
    upstreamId: _id,
    submitLeaseUntil: _lease,
    submitAttemptedAt: _attempted,
    submitAttemptOutcome: _outcome,
    ambiguousSince: _ambiguous,
    ...rest
  } = task;
  return {
    ...rest,
    status: 'accepted',
    updatedAt: at,
    resubmits: (task.resubmits ?? 0) + 1,
    discardedUpstreamIds: [...(task.discardedUpstreamIds ?? []), change.resubmitOf],
    history: [...task.history, { status: 'accepted', at, note: change.reason }],
    version: task.version + 1,
  };
}

export function newTask(input: {
  id: string;
  owner: string;
  request: TaskRequest;
  provider: string;
  model: string;
  now: Date;
  /** Until the deadline: while queued, the queue timeout (admission starts the generation deadline). */
  timeoutSeconds: number;
  upstreamMarker?: string;
  /** The task's ticket in its owner's queue; absent only for tasks made outside the queue (tests, old data). */
  queueTicket?: number;
  callback?: TaskCallback;
}): Task {
  const at = input.now.toISOString();
  return {
    id: input.id,
    owner: input.owner,
    status: 'accepted',
    request: input.request,
    provider: input.provider,
    model: input.model,
    createdAt: at,
    updatedAt: at,
    deadline: new Date(input.now.getTime() + input.timeoutSeconds * 1000).toISOString(),
    history: [{ status: 'accepted', at }],
    publishedThrough: 0,
    ...(input.callback && { callback: input.callback }),
    ...(input.upstreamMarker && { upstreamMarker: input.upstreamMarker }),
    ...(input.queueTicket !== undefined && { queueTicket: input.queueTicket }),
    version: 1,
  };
}
