/**
 * The two scenarios of `npm run chaos` about the queue (see scripts/chaos.ts for the command line):
 *
 *   fair   a big tenant sends N tasks at once (default 200), then a small tenant sends as many as half the
 *          slots, one by one; prints how long each waited for an upstream slot, in turnovers of the slots
 *          and in seconds (median per tenant), and checks that every small task started within one
 *          turnover (its fair share: more small tasks than half the slots wait for its own to finish).
 *   queue  one tenant's queue of N/10 tasks, then of N (default 2,000), behind `--cap` slots (default 10)
 *          in steady turnover; prints what a waiting task costs (executions, state transitions, Lambda
 *          invocations, DynamoDB reads) at both lengths, counted by the local runtime (local/usage.ts),
 *          and checks that it is nothing, and that enqueueing and admitting cost the same at both lengths.
 *
 * Loopback only; every wait is bounded; the queue scenario stops with its queue still long, by design.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { LocalGateway } from '../../local/gateway.ts';
import { LOCAL_REGION } from '../../local/local-aws.ts';
import { usageBetween, type FunctionUsage } from '../../local/usage.ts';
import { DynamoDbTaskStore } from '../../functions/commons/adapters/task-store.ts';
import { isQueued, type Task } from '../../functions/commons/domain/task.ts';
import {
  Api,
  TABLE_NAME,
  acceptedIds,
  checkSlots,
  liftedKeyLimits,
  mapLimit,
  reportWaitProblems,
  sleep,
  waitAllTerminal,
  withInProcessGateway,
  type Answer,
  type CommonOptions,
  type ScenarioReport,
} from './harness.ts';

export interface FairReport extends ScenarioReport {
  bigTasks: number;
  smallTasks: number;
  cap: number;
  /** Median wait for a slot, per tenant: admissions of anyone in between / cap, and seconds. */
  medianTurnovers: { big: number; small: number };
  medianSeconds: { big: number; small: number };
  /** Small tasks admitted among the next `cap` admissions after they were accepted. */
  smallWithinOneTurnover: number;
  completed: number;
  refused: number;
  lost: number;
  stuck: number;
  upstreamMaxConcurrent: number;
}

export interface QueueWindow {
  /** Tasks waiting in the queue when the window began. */
  waiting: number;
  admitted: number;
  /** Executions that tasks still queued at the window's end had: a queued task has none. */
  executionsOfWaiting: number;
  invocations: number;
  itemsRead: number;
  /** Estimated from the workflow's own invocations: Poll + Next step? + Wait per poll; two per Copy or Record failure. */
  stateTransitions: number;
}

export interface QueueReport extends ScenarioReport {
  cap: number;
  /** Items read per create (the API's whole request), with the shorter and the longer queue. */
  readsPerCreate: { short: number; long: number };
  short: QueueWindow;
  long: QueueWindow;
  /** What the extra waiting tasks of the longer queue added, per waiting task per gateway minute. */
  perWaitingTaskPerMinute: { invocations: number; itemsRead: number; stateTransitions: number };
}

/** Unscaled seconds of a generation slot's turnover in the simulated upstream, about: for bounding waits. */
const TURNOVER_SECONDS = 120;

// ---------------------------------------------------------------------------
// fair
// ---------------------------------------------------------------------------

export async function fair(
  options: CommonOptions & { tasks?: number; small?: number; maxConcurrent?: number } = {},
): Promise<FairReport> {
  const bigCount = options.tasks ?? 200;
  const cap = options.maxConcurrent ?? 5;
  const smallCount = options.small ?? Math.max(1, Math.floor(cap / 2));
  const timeScale = options.timeScale ?? 0.01;
  const rounds = Math.ceil((bigCount + smallCount) / cap);
  const boundMs = rounds * TURNOVER_SECONDS * timeScale * 1000 + 120_000;
  return withInProcessGateway(
    'fair',
    options,
    { timeScale, capacity: { maxConcurrent: cap }, keys: 2, keyLimits: liftedKeyLimits(bigCount) },
    async (gateway, run) => {
      const [big, small] = gateway.apiKeys.map((key) => new Api(gateway.url, key)) as [Api, Api];
      const started = Date.now();
      const bigAnswers = await Promise.all(
        Array.from({ length: bigCount }, (_, i) => big.create({ user_prompt: `Fair ${run.id} big ${i}: a freight train at night` })),
      );
      const smallAnswers: Answer[] = [];
      const accepted: string[] = []; // when the gateway answered that it had each small task
      for (let i = 0; i < smallCount; i++) {
        smallAnswers.push(await small.create({ user_prompt: `Fair ${run.id} small ${i}: a paper crane` }));
        accepted.push(new Date().toISOString());
      }
      const refused = [...bigAnswers, ...smallAnswers].filter((answer) => answer.status === 429).length;
      const bigIds = acceptedIds(bigAnswers, run.violations);
      const smallIds = acceptedIds(smallAnswers, run.violations);
      const [bigWaited, smallWaited] = await Promise.all([waitAllTerminal(big, bigIds, boundMs), waitAllTerminal(small, smallIds, boundMs)]);
      const seconds = (Date.now() - started) / 1000;
      for (const waited of [bigWaited, smallWaited]) reportWaitProblems(waited, run.violations);
      const outcomes = [...bigWaited.final.values(), ...smallWaited.final.values()];
      const completed = outcomes.filter((body) => body.state === 'completed').length;
      for (const body of outcomes.filter((b) => b.state === 'failed')) run.violations.push(`task ${body.id} failed: ${body.failure_code}: ${body.failure_reason}`);

      const [bigTasks, smallTasks] = await withTaskStore(gateway, (tasks) => Promise.all([readTasks(tasks, bigIds), readTasks(tasks, smallIds)]));
      const all = [...bigTasks, ...smallTasks].filter((task) => task.admittedAt !== undefined);
      const admissions = all.map((task) => task.admittedAt!).sort();
      /** Admissions of anyone after `since` and before the task's own, in turnovers of the slots. */
      const turnovers = (task: Task, since: string) => admissions.filter((at) => at > since && at < task.admittedAt!).length / cap;
      const waitSeconds = (task: Task) => (Date.parse(task.admittedAt!) - Date.parse(task.createdAt)) / 1000;
      let smallWithinOneTurnover = 0;
      smallTasks.forEach((task, i) => {
        if (!task.admittedAt) return;
        if (task.admittedAt <= accepted[i]! || turnovers(task, accepted[i]!) < 1) smallWithinOneTurnover++;
        else run.violations.push(`small task ${task.id} waited ${turnovers(task, accepted[i]!).toFixed(2)} turnovers of the slots after it was accepted`);
      });
      const admitted = (tasks: Task[]) => tasks.filter((task) => task.admittedAt !== undefined);
      const medianTurnovers = {
        big: median(admitted(bigTasks).map((task) => turnovers(task, task.createdAt))),
        small: median(admitted(smallTasks).map((task) => turnovers(task, task.createdAt))),
      };
      const medianSeconds = { big: median(admitted(bigTasks).map(waitSeconds)), small: median(admitted(smallTasks).map(waitSeconds)) };
      const gatewayTime = (realSeconds: number) => `${Math.round(realSeconds / timeScale / 60)} min`;
      if (refused > 0) run.violations.push(`${refused} creates were refused with 429: a batch must be queued, not refused`);
      const stats = gateway.simulatedLuma!.stats();
      if (stats.maxConcurrent > cap) run.violations.push(`the upstream saw ${stats.maxConcurrent} generations at once, over the cap of ${cap}`);
      const slotLeaks = await checkSlots(gateway, cap, run.violations);
      const lost = bigCount + smallCount - bigIds.length - smallIds.length + bigWaited.notFound.length + smallWaited.notFound.length;
      const stuck = bigWaited.stuck.length + smallWaited.stuck.length;
      return {
        bigTasks: bigCount,
        smallTasks: smallCount,
        cap,
        medianTurnovers,
        medianSeconds,
        smallWithinOneTurnover,
        completed,
        refused,
        lost,
        stuck,
        upstreamMaxConcurrent: stats.maxConcurrent,
        seconds,
        line:
          `fair: a big tenant sends ${bigCount} tasks at once, then a small tenant ${smallCount} one by one, ${cap} slots, time scale ${timeScale}; ` +
          `median wait for a slot: small ${medianTurnovers.small.toFixed(2)} turnovers (${medianSeconds.small.toFixed(1)} s, ${gatewayTime(medianSeconds.small)} of gateway time), ` +
          `big ${medianTurnovers.big.toFixed(2)} turnovers (${medianSeconds.big.toFixed(1)} s, ${gatewayTime(medianSeconds.big)}); ` +
          `small tasks started within one turnover: ${smallWithinOneTurnover}/${smallCount}; ${completed} completed, ${refused} refused, ` +
          `${lost} lost, ${stuck} stuck, upstream max concurrent ${stats.maxConcurrent} (cap ${cap}), ${slotLeaks} slot leaks, ${seconds.toFixed(1)} s`,
      };
    },
  );
}

// ---------------------------------------------------------------------------
// queue
// ---------------------------------------------------------------------------

export async function queue(
  options: CommonOptions & { tasks?: number; maxConcurrent?: number; windowSeconds?: number } = {},
): Promise<QueueReport> {
  const longQueue = options.tasks ?? 2000;
  const shortQueue = Math.max(1, Math.round(longQueue / 10));
  const cap = options.maxConcurrent ?? 10;
  const timeScale = options.timeScale ?? 0.01;
  const windowSeconds = options.windowSeconds ?? 1000; // gateway time: 10 s at the default time scale
  return withInProcessGateway(
    'queue',
    options,
    { timeScale, capacity: { maxConcurrent: cap }, keyLimits: liftedKeyLimits(longQueue) },
    async (gateway, run) => {
      const api = new Api(gateway.url, gateway.apiKeys[0]!);
      const started = Date.now();
      const ids: string[] = [];
      /** Sends `count` more tasks (32 at a time): the items the API read for each create. */
      const enqueue = async (count: number, label: string): Promise<number> => {
        const before = gateway.usage.snapshot();
        const answers = await mapLimit(Array.from({ length: count }, (_, i) => i), 32, (i) =>
          api.create({ user_prompt: `Queue ${run.id} ${label} ${i}: a snail on a leaf` }),
        );
        const after = gateway.usage.snapshot();
        ids.push(...acceptedIds(answers, run.violations));
        return delta(before, after, 'Api').itemsRead / count;
      };
      const window = async (): Promise<QueueWindow> => {
        const waiting = (await withTaskStore(gateway, (tasks) => readTasks(tasks, ids))).filter(isQueued).length;
        const before = gateway.usage.snapshot();
        const from = new Date().toISOString();
        await sleep(windowSeconds * timeScale * 1000);
        const to = new Date().toISOString();
        const after = gateway.usage.snapshot();
        const executions = new Set(gateway.stepFunctions.listExecutions().map((execution) => execution.name));
        const tasks = await withTaskStore(gateway, (store) => readTasks(store, ids));
        const stillWaiting = tasks.filter((task) => task.admittedAt === undefined || task.admittedAt > to);
        const executionsOfWaiting = stillWaiting.filter((task) => executions.has(task.id)).length;
        // Every task admitted a while before the window's end has its execution (started by whoever admitted it).
        const early = new Date(Date.parse(to) - 2000).toISOString();
        for (const task of tasks.filter((t) => t.admittedAt !== undefined && t.admittedAt < early && !executions.has(t.id))) {
          run.violations.push(`task ${task.id} was admitted at ${task.admittedAt} but has no execution`);
        }
        const functions = ['Api', 'Poll', 'Copy', 'RecordFailure', 'Reconcile'];
        const used = (name: string) => delta(before, after, name);
        return {
          waiting,
          admitted: tasks.filter((task) => task.admittedAt !== undefined && task.admittedAt >= from && task.admittedAt <= to).length,
          executionsOfWaiting,
          invocations: functions.reduce((sum, name) => sum + used(name).invocations, 0),
          itemsRead: functions.reduce((sum, name) => sum + used(name).itemsRead, 0),
          stateTransitions: 3 * used('Poll').invocations + 2 * used('Copy').invocations + 2 * used('RecordFailure').invocations,
        };
      };

      const shortReads = await enqueue(shortQueue, 'short');
      const short = await window();
      const longReads = await enqueue(longQueue - shortQueue, 'long');
      const long = await window();
      const seconds = (Date.now() - started) / 1000;

      for (const [name, measured] of Object.entries({ short, long })) {
        if (measured.executionsOfWaiting > 0) run.violations.push(`${measured.executionsOfWaiting} tasks still queued after the ${name} window had an execution`);
        if (measured.admitted === 0) run.violations.push(`no task was admitted in the ${name} window: there was no turnover to measure`);
      }
      const per = (value: number, count: number) => (count > 0 ? value / count : Number.NaN);
      // The work done in a window follows the tasks admitted and running in it; the tasks waiting must add
      // nothing to it. Generous bounds, for a noisy machine: an old-style waiting task polled and counted
      // the queue ahead of it, which grows the reads per admission tenfold between these two lengths.
      if (per(long.itemsRead, long.admitted) > 2 * per(short.itemsRead, short.admitted)) {
        run.violations.push(`reads per admitted task grew with the queue: ${per(short.itemsRead, short.admitted).toFixed(1)} → ${per(long.itemsRead, long.admitted).toFixed(1)}`);
      }
      if (longReads > 1.5 * shortReads + 2) run.violations.push(`reads per create grew with the queue: ${shortReads.toFixed(1)} → ${longReads.toFixed(1)}`);
      const stats = gateway.simulatedLuma!.stats();
      if (stats.maxConcurrent > cap) run.violations.push(`the upstream saw ${stats.maxConcurrent} generations at once, over the cap of ${cap}`);

      // What the longer queue's extra waiting tasks added: each window's work scaled to the same admissions.
      const minutes = windowSeconds / 60;
      const extraWaiting = Math.max(1, long.waiting - short.waiting);
      const marginal = (key: 'invocations' | 'itemsRead' | 'stateTransitions') =>
        (long[key] - per(short[key], short.admitted) * long.admitted) / extraWaiting / minutes;
      const perWaitingTaskPerMinute = { invocations: marginal('invocations'), itemsRead: marginal('itemsRead'), stateTransitions: marginal('stateTransitions') };
      const describe = (w: QueueWindow) =>
        `${w.waiting} waiting: ${w.admitted} admitted, ${w.executionsOfWaiting} executions of waiting tasks, ` +
        `${w.invocations} invocations (${per(w.invocations, w.admitted).toFixed(1)} per admitted task), ` +
        `~${w.stateTransitions} state transitions (${per(w.stateTransitions, w.admitted).toFixed(1)} per admitted task), ` +
        `${w.itemsRead} items read (${per(w.itemsRead, w.admitted).toFixed(1)} per admitted task)`;
      const signed = (value: number) => `${value >= 0 ? '+' : ''}${value.toFixed(3)}`;
      return {
        cap,
        readsPerCreate: { short: shortReads, long: longReads },
        short,
        long,
        perWaitingTaskPerMinute,
        seconds,
        line:
          `queue: one tenant's queue behind ${cap} slots in steady turnover, time scale ${timeScale}; a waiting task has no execution: ` +
          `0 state transitions, 0 Lambda invocations while it waits; to enqueue it the API reads ${shortReads.toFixed(1)} items ` +
          `(${shortQueue} queued) and ${longReads.toFixed(1)} (${longQueue} queued)\n` +
          `  window of ${windowSeconds} s (gateway time) with ${describe(short)}\n` +
          `  window of ${windowSeconds} s (gateway time) with ${describe(long)}\n` +
          `  the ${extraWaiting} extra waiting tasks added, per waiting task per gateway minute: ${signed(perWaitingTaskPerMinute.stateTransitions)} state transitions, ` +
          `${signed(perWaitingTaskPerMinute.invocations)} invocations, ${signed(perWaitingTaskPerMinute.itemsRead)} items read (noise around 0); ` +
          `upstream max concurrent ${stats.maxConcurrent} (cap ${cap}), ${seconds.toFixed(1)} s (stopped with the queue still long, by design)`,
      };
    },
  );
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** The usage of one function between two snapshots. */
function delta(before: Record<string, FunctionUsage>, after: Record<string, FunctionUsage>, name: string): FunctionUsage {
  return usageBetween(before, after, name);
}

/** The script's own reads (counted as `other`, apart from the functions'). */
async function withTaskStore<T>(gateway: LocalGateway, body: (tasks: DynamoDbTaskStore) => Promise<T>): Promise<T> {
  const client = new DynamoDBClient({ endpoint: gateway.dynamoDbEndpoint, region: LOCAL_REGION, credentials: gateway.credentials });
  try {
    return await body(new DynamoDbTaskStore(DynamoDBDocumentClient.from(client), TABLE_NAME));
  } finally {
    client.destroy();
  }
}

async function readTasks(tasks: DynamoDbTaskStore, ids: string[]): Promise<Task[]> {
  const found = await mapLimit(ids, 16, (id) => tasks.get(id));
  return found.filter((task): task is Task => task !== undefined);
}

function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
