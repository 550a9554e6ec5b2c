/**
 * fair: a big tenant sends N tasks at once (default 200), then a small tenant sends as many as half the
 * slots, one by one; prints how long each waited for an upstream slot, in turnovers of the slots and in
 * seconds (median per tenant), and checks that every small task started within one turnover (its fair
 * share: more small tasks than half the slots wait for its own to finish).
 *
 * Loopback only; every wait is bounded.
 */
import type { Task } from '../../functions/commons/domain/task.ts';
import { TimeScale } from '../../local/time-scale.ts';
import {
  Api,
  liftedKeyLimits,
  readTasks,
  withInProcessGateway,
  withTaskStore,
  type Answer,
  type CommonOptions,
  type ScenarioReport,
} from './harness.ts';
import { acceptedIds, checkSlots, reportWaitProblems, waitAllTerminal } from './invariants.ts';

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
  const scale = new TimeScale(timeScale);
  const boundMs = scale.secondsAsMs(rounds * TURNOVER_SECONDS) + 120_000;
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
      const gatewayTime = (realSeconds: number) => `${Math.round(scale.gatewaySeconds(realSeconds) / 60)} min`;
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

function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
