/**
 * burst: N concurrent submits against an upstream capacity of `--cap` (default 200 tasks, cap 5): every task
 * completes, none is lost or stuck, the upstream never sees more than the cap at once, each prompt is
 * created upstream exactly once, and no slot is held afterwards.
 */
import { TimeScale } from '../../local/time-scale.ts';
import {
  Api,
  liftedKeyLimits,
  scenarioDeadline,
  withInProcessGateway,
  type CommonOptions,
  type ScenarioReport,
} from './harness.ts';
import { acceptedIds, checkOnePerPrompt, checkSlots, reportWaitProblems, waitAllTerminal } from './invariants.ts';

export interface BurstReport extends ScenarioReport {
  tasks: number;
  lost: number;
  stuck: number;
  completed: number;
  failed: number;
  cap: number;
  upstreamMaxConcurrent: number;
  upstreamCreates: number;
  slotLeaks: number;
}

export async function burst(options: CommonOptions & { tasks?: number; maxConcurrent?: number } = {}): Promise<BurstReport> {
  const tasks = options.tasks ?? 200;
  const cap = options.maxConcurrent ?? 5;
  const timeScale = options.timeScale ?? 0.01;
  // The whole queue must fit in the deadline, or late tasks would (rightly) fail with deadline_exceeded:
  // a generation holds its slot for about 70 s of scaled time, plus polling; count 300 s per round.
  const deadlineSeconds = scenarioDeadline(timeScale, Math.ceil(tasks / cap) * 300);
  return withInProcessGateway(
    'burst',
    options,
    { timeScale, capacity: { maxConcurrent: cap }, generationTimeoutSeconds: deadlineSeconds, keyLimits: liftedKeyLimits(tasks) },
    async (gateway, run) => {
      const api = new Api(gateway.url, gateway.apiKeys[0]!);
      const prompts = Array.from({ length: tasks }, (_, i) => `Burst ${run.id} task ${i}: a paper boat on a rainy street`);
      const started = Date.now();
      const submits = await Promise.all(prompts.map((prompt) => api.create({ user_prompt: prompt })));
      const ids = acceptedIds(submits, run.violations);
      const waited = await waitAllTerminal(api, ids, new TimeScale(timeScale).secondsAsMs(deadlineSeconds) + 60_000);
      const seconds = (Date.now() - started) / 1000;
      const lost = tasks - ids.length + waited.notFound.length;
      reportWaitProblems(waited, run.violations);

      const outcomes = [...waited.final.values()];
      const completed = outcomes.filter((body) => body.state === 'completed').length;
      for (const body of outcomes.filter((b) => b.state === 'failed')) {
        run.violations.push(`task ${body.id} failed without any injected fault: ${body.failure_code}: ${body.failure_reason}`);
      }
      const stats = gateway.simulatedLuma!.stats();
      if (stats.maxConcurrent > cap) {
        run.violations.push(`the upstream saw ${stats.maxConcurrent} generations in flight at once, over the cap of ${cap}`);
      }
      if (stats.creates !== tasks) run.violations.push(`the upstream created ${stats.creates} generations for ${tasks} tasks`);
      const taskIds = submits.map((answer) => answer.body?.id as string | undefined);
      checkOnePerPrompt(prompts, gateway.simulatedLuma!.generations().map((g) => g.prompt), run.violations, taskIds);
      const slotLeaks = await checkSlots(gateway, cap, run.violations);

      return {
        tasks,
        lost,
        stuck: waited.stuck.length,
        completed,
        failed: outcomes.length - completed,
        cap,
        upstreamMaxConcurrent: stats.maxConcurrent,
        upstreamCreates: stats.creates,
        slotLeaks,
        seconds,
        line:
          `burst: ${tasks} tasks, ${lost} lost, ${waited.stuck.length} stuck, upstream max concurrent ${stats.maxConcurrent} (cap ${cap}), ` +
          `upstream creates ${stats.creates}, ${completed} completed, ${slotLeaks} slot leaks, ${seconds.toFixed(1)} s`,
      };
    },
  );
}
