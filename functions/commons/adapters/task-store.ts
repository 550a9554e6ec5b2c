/**
 * Tasks in DynamoDB (ports/task-store.ts), one item each under `TASK#<id>`. Every write is a put
 * conditional on the version that was read.
 *
 * Three sparse indexes list tasks, each through attributes derived from the task when it is written: a
 * queued task carries `queueKey` and `queueOrder` (its owner's queue, in ticket order: `byQueue`, one
 * partition per owner, see queue-index.ts), an unfinished task that has left the queue carries `phase`
 * (`byPhase`, the reconciler's work list), and every task carries `listKey` and `listOrder` (`byOwner`:
 * its owner's tasks in arrival order, which the API lists newest first; the index also holds `status`,
 * so that a filter on it reads no task it drops).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DeleteCommand, GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  admitted,
  applyChange,
  arrivalOrder,
  awaitsAdmission,
  isAlreadyApplied,
  isQueued,
  isTerminal,
  phaseOf,
  published,
  queueOrder,
  TASK_STATUSES,
  type Task,
  type TaskChange,
  type TaskPhase,
  TransitionRefusedError,
  withUpstreamRead,
  withWorkflowWait,
  type WorkflowWait,
} from '../domain/task.ts';
import type { ListPage } from '../domain/generation-list.ts';
import { QUEUE_INDEX, ownerQueueKey } from './queue-index.ts';
import { beginAttempt, endAttempt, type AttemptOutcome } from '../domain/submit-attempt.ts';
import type { TaskStore, TransitionResult } from '../ports/task-store.ts';
import { systemClock, type Clock } from '../clock.ts';

const MAX_WRITE_ATTEMPTS = 5;
/** The sparse index over unfinished tasks that have left the queue: `phase` (active) and `phaseOrder` (arrival). */
export const PHASE_INDEX = 'byPhase';
/** Every task by its owner: `listKey` (the owner's partition) and `listOrder` (arrival); `status` projected. */
export const OWNER_INDEX = 'byOwner';
const taskKey = (id: string) => ({ pk: `TASK#${id}` });
/** The partition of an owner's tasks in `byOwner`. */
const ownerListKey = (owner: string) => `TASKS#${owner}`;
/** Attributes of the item that are not the task's own: its key, its kind, and what its indexes need. */
const DERIVED = ['pk', 'kind', 'phase', 'phaseOrder', 'queueKey', 'queueOrder', 'listKey', 'listOrder'];
const TERMINAL_STATUSES = TASK_STATUSES.filter(isTerminal);
/**
 * How many index entries a filtered page reads at a time, and how many times: a filter that matches
 * little (`state=processing` in a long history) ends its page early, with a cursor, rather than reading
 * the owner's whole history in one request.
 */
const FILTERED_READ = 200;
const MAX_LIST_QUERIES = 5;

/** The stored item: the task plus the derived attributes its indexes need. */
function itemOf(task: Task): Record<string, unknown> {
  const phase = phaseOf(task);
  return {
    ...taskKey(task.id),
    kind: 'task',
    ...task,
    ...(phase && { phase, phaseOrder: arrivalOrder(task) }),
    ...(isQueued(task) && { queueKey: ownerQueueKey(task.owner), queueOrder: queueOrder(task.queueTicket!) }),
    listKey: ownerListKey(task.owner),
    listOrder: arrivalOrder(task),
  };
}

/** The task an item holds, without the attributes derived for its key and indexes. */
function taskOf(item: Record<string, unknown>): Task {
  return Object.fromEntries(Object.entries(item).filter(([name]) => !DERIVED.includes(name))) as unknown as Task;
}

export class DynamoDbTaskStore implements TaskStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly clock: Clock = systemClock,
  ) {}

  async create(task: Task): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: itemOf(task),
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async get(id: string): Promise<Task | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: taskKey(id), ConsistentRead: true }),
    );
    if (!Item || Item.kind !== 'task') return undefined;
    return taskOf(Item);
  }

  async transition(id: string, change: TaskChange): Promise<TransitionResult> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.get(id);
      if (!current) throw new TransitionRefusedError(`Task ${id} does not exist.`);
      if (isAlreadyApplied(current, change)) return { task: current, changed: false };
      const next = applyChange(current, change, this.clock().toISOString());
      if (await this.putIfUnchanged(current, next)) return { task: next, changed: true };
      // Someone else wrote in between: read again and decide afresh (their write may make ours a repeat).
      if (attempt >= MAX_WRITE_ATTEMPTS) throw new Error(`Task ${id} kept changing under ${MAX_WRITE_ATTEMPTS} attempts to write it.`);
    }
  }

  async claimSubmit(id: string, now: Date, leaseMs: number): Promise<{ claimed: false } | { claimed: true; task: Task }> {
    const task = await this.get(id);
    const begun = task && beginAttempt(task, now, leaseMs);
    if (!begun || !(await this.putIfUnchanged(task, begun))) return { claimed: false };
    return { claimed: true, task: begun };
  }

  async releaseSubmit(id: string, attemptedAt: string, outcome: AttemptOutcome): Promise<void> {
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const task = await this.get(id);
      // Another submitter took over (our lease ran out), or the task moved on: nothing of ours to end.
      if (!task?.submitLeaseUntil || task.status !== 'accepted' || task.submitAttemptedAt !== attemptedAt) return;
      if (await this.putIfUnchanged(task, endAttempt(task, outcome))) return;
    }
  }

  async noteUpstreamRead(id: string, at: Date, poll: boolean): Promise<Task> {
    for (let attempt = 1; ; attempt++) {
      const task = await this.get(id);
      if (!task) throw new TransitionRefusedError(`Task ${id} does not exist.`);
      const next = withUpstreamRead(task, at.toISOString(), poll);
      if (await this.putIfUnchanged(task, next)) return next;
      if (attempt >= MAX_WRITE_ATTEMPTS) throw new Error(`Task ${id} kept changing under ${MAX_WRITE_ATTEMPTS} attempts to write it.`);
    }
  }

  async claimUpstreamRead(id: string, at: Date, isDue: (task: Task) => boolean): Promise<Task | undefined> {
    for (let attempt = 1; ; attempt++) {
      const task = await this.get(id);
      if (!task || !isDue(task)) return undefined;
      const next = withUpstreamRead(task, at.toISOString(), false);
      if (await this.putIfUnchanged(task, next)) return next;
      // Someone wrote in between (another claim, most likely): decide again on what is stored now.
      if (attempt >= MAX_WRITE_ATTEMPTS) return undefined;
    }
  }

  async holdWait(id: string, wait: WorkflowWait, ifVersion: number): Promise<Task | undefined> {
    const task = await this.get(id);
    if (!task || task.version !== ifVersion) return undefined;
    const next = withWorkflowWait(task, wait);
    return (await this.putIfUnchanged(task, next)) ? next : undefined;
  }

  async markPublished(seen: Task, through: number): Promise<void> {
    let task: Task | undefined = seen;
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const next = task && published(task, through);
      if (!task || next === task || (await this.putIfUnchanged(task, next!))) return;
      task = await this.get(seen.id); // it changed since: decide again on what it is now
    }
    throw new Error(`Task ${seen.id} kept changing under ${MAX_WRITE_ATTEMPTS} attempts to mark it published.`);
  }

  /** Writes `next` if the item is still at `read`'s version; false when someone wrote in between. */
  private async putIfUnchanged(read: Task, next: Task): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: itemOf(next),
          ConditionExpression: '#version = :read',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':read': read.version },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async admit(id: string, now: Date, generationTimeoutSeconds: number): Promise<Task | undefined> {
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const task = await this.get(id);
      if (!task || !awaitsAdmission(task)) return undefined;
      const next = admitted(task, now, generationTimeoutSeconds);
      if (await this.putIfUnchanged(task, next)) return next;
    }
    return undefined;
  }

  async queued(owner: string, limit: number, afterTicket?: number): Promise<{ id: string; ticket: number }[]> {
    const page = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: QUEUE_INDEX,
        KeyConditionExpression: afterTicket === undefined ? 'queueKey = :queue' : 'queueKey = :queue AND queueOrder > :after',
        ExpressionAttributeValues: { ':queue': ownerQueueKey(owner), ...(afterTicket !== undefined && { ':after': queueOrder(afterTicket) }) },
        Limit: limit,
      }),
    );
    // Keys only: the index's own keys come with the table's.
    return (page.Items ?? []).map((item) => ({ id: String(item.pk).slice('TASK#'.length), ticket: Number(item.queueOrder) }));
  }

  async listPhase(phase: TaskPhase, cursor?: string): Promise<{ ids: string[]; cursor?: string }> {
    const page = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: PHASE_INDEX,
        KeyConditionExpression: 'phase = :phase',
        ExpressionAttributeValues: { ':phase': phase },
        ProjectionExpression: 'pk', // the index projects keys only: the id is in the table key
        Limit: 100,
        ExclusiveStartKey: cursor ? JSON.parse(cursor) : undefined,
      }),
    );
    return {
      ids: (page.Items ?? []).map((item) => String(item.pk).slice('TASK#'.length)),
      cursor: page.LastEvaluatedKey ? JSON.stringify(page.LastEvaluatedKey) : undefined,
    };
  }

  async listOwned(owner: string, page: ListPage): Promise<{ tasks: Task[]; next?: string }> {
    const listKey = ownerListKey(owner);
    const filter = page.statuses && {
      FilterExpression: `#status IN (${page.statuses.map((_, index) => `:s${index}`).join(', ')})`,
      ExpressionAttributeNames: { '#status': 'status' }, // a reserved word
    };
    // One more than the page: whether anything follows it, without a last page that turns out empty.
    const wanted = page.limit + 1;
    const found: { pk: string; listOrder: string }[] = [];
    let start: Record<string, unknown> | undefined = page.after === undefined ? undefined : { listKey, listOrder: page.after, pk: taskKey(page.after.slice(page.after.indexOf('#') + 1)).pk };
    for (let query = 0; query < MAX_LIST_QUERIES && found.length < wanted; query++) {
      const result = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: OWNER_INDEX,
          KeyConditionExpression: 'listKey = :owner',
          ExpressionAttributeValues: { ':owner': listKey, ...Object.fromEntries((page.statuses ?? []).map((status, index) => [`:s${index}`, status])) },
          ...(filter ? { ...filter, Limit: FILTERED_READ } : { Limit: wanted - found.length }),
          ProjectionExpression: 'pk, listOrder',
          ScanIndexForward: false, // newest first
          ExclusiveStartKey: start,
        }),
      );
      for (const item of result.Items ?? []) found.push({ pk: String(item.pk), listOrder: String(item.listOrder) });
      start = result.LastEvaluatedKey;
      if (!start) break;
    }
    const shown = found.slice(0, page.limit);
    // More than a page: resume after its last task. Fewer, with the index not read to its end: after the last entry read.
    const next = found.length > page.limit ? shown.at(-1)!.listOrder : start ? String(start.listOrder) : undefined;
    const tasks = await this.readAll(shown.map((entry) => entry.pk));
    // The index lags behind the table: a task deleted meanwhile is gone, one whose status moved on may no longer match.
    const listed = tasks.filter((task): task is Task => !!task && task.owner === owner && (!page.statuses || page.statuses.includes(task.status)));
    return { tasks: listed, ...(next !== undefined && { next }) };
  }

  /** Tasks by item key, read consistently, in the order asked; undefined for a key with no task. */
  private async readAll(keys: string[]): Promise<(Task | undefined)[]> {
    const items = new Map<string, Record<string, unknown>>();
    for (let start = 0; start < keys.length; start += 100) {
      let request: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead: boolean }> | undefined = {
        [this.tableName]: { Keys: keys.slice(start, start + 100).map((pk) => ({ pk })), ConsistentRead: true },
      };
      while (request && Object.keys(request).length > 0) {
        const page = await this.client.send(new BatchGetCommand({ RequestItems: request }));
        for (const item of page.Responses?.[this.tableName] ?? []) items.set(String(item.pk), item);
        request = page.UnprocessedKeys as typeof request;
      }
    }
    return keys.map((pk) => {
      const item = items.get(pk);
      return item?.kind === 'task' ? taskOf(item) : undefined;
    });
  }

  async remove(id: string): Promise<boolean> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: taskKey(id),
          // Never a task that is still running, whoever changed it since it was read.
          ConditionExpression: `kind = :task AND #status IN (${TERMINAL_STATUSES.map((_, index) => `:t${index}`).join(', ')})`,
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':task': 'task', ...Object.fromEntries(TERMINAL_STATUSES.map((status, index) => [`:t${index}`, status])) },
        }),
      );
      return true;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    const task = await this.get(id);
    if (task) throw new TransitionRefusedError(`Task ${id} is ${task.status}; only a finished task can be deleted.`);
    return false;
  }
}
