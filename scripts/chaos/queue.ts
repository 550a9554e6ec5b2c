/**
 * queue: one tenant's queue of N/10 tasks, then of N (default 2,000), behind `--cap` slots (default 10) in
 * steady turnover; prints what a waiting task costs (executions, state transitions, Lambda invocations,
 * DynamoDB reads) at both lengths, counted by the local runtime (local/usage.ts), and checks that it is
 * nothing, and that enqueueing and admitting cost the same at both lengths.
 *
 * Loopback only; every wait is bounded; the scenario stops with its queue still long, by design.
 */
import { usageBetween, type FunctionUsage } from '../../local/usage.ts';
import { isQueued } from '../../functions/commons/domain/task.ts';
import { TimeScale } from '../../local/time-scale.ts';
import {
  Api,
  liftedKeyLimits,
  readTasks,
  withInProcessGateway,
  withTaskStore,
  type CommonOptions,
  type ScenarioReport,
} from './harness.ts';
import { mapLimit, sleep } from './util.ts';
import { acceptedIds } from './invariants.ts';

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
        await sleep(new TimeScale(timeScale).secondsAsMs(windowSeconds));
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
