/**
 * restart: N submits (default 20) to `npm start`, kill -9 of its process group while they are in flight,
 * and a restart on the same data dir: every task completes, with its own generation, created upstream
 * exactly once across both runs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TIME_SCALE_VARIABLE, TimeScale } from '../../local/time-scale.ts';
import { npmStart } from './npm-start.ts';
import {
  Api,
  LIFTED_EDGE_LIMITS,
  liftedKeyLimits,
  newRun,
  finishRun,
  scenarioDeadline,
  SAMPLE_MP4,
  type CommonOptions,
  type ScenarioReport,
} from './harness.ts';
import { countBy, formatCounts, mapLimit, sleep } from './util.ts';
import { acceptedIds, checkOnePerPrompt, reportWaitProblems, waitAllTerminal } from './invariants.ts';

export interface RestartReport extends ScenarioReport {
  tasks: number;
  lost: number;
  stuck: number;
  completed: number;
  /** Public states of the tasks at the moment of the kill. */
  statesAtKill: Record<string, number>;
  upstreamGenerations: number;
  upstreamDuplicated: number;
  upstreamMissing: number;
}

export async function restart(
  options: CommonOptions & {
    tasks?: number;
    /** Kill this long after the first submit; by default, as soon as a task is seen past pending. */
    killAfterMs?: number;
  } = {},
): Promise<RestartReport> {
  const tasks = options.tasks ?? 20;
  const timeScale = options.timeScale ?? 0.01;
  const run = newRun('restart');
  // Room for two starts of `npm start`, a submit lease to run out, and the queue, on a slow machine.
  const deadlineSeconds = scenarioDeadline(timeScale, 0);
  const env = {
    PORT: '0',
    [TIME_SCALE_VARIABLE]: String(timeScale),
    LOCAL_DATA_DIR: run.dataDir,
    LOCAL_API_KEY: `restart-${randomBytes(12).toString('hex')}`,
    GENERATION_TIMEOUT_SECONDS: String(deadlineSeconds),
    KEY_MAX_QUEUED: String(liftedKeyLimits(tasks).maxQueued),
    KEY_RATE_PER_MINUTE: String(liftedKeyLimits(tasks).ratePerMinute),
    CLIENT_REQUESTS_PER_MINUTE: String(LIFTED_EDGE_LIMITS.requestsPerKey),
    IP_REQUESTS_PER_MINUTE: String(LIFTED_EDGE_LIMITS.requestsPerAddress),
    API_RATE_LIMIT: String(LIFTED_EDGE_LIMITS.rateLimit),
    API_BURST_LIMIT: String(LIFTED_EDGE_LIMITS.burstLimit),
    // Whatever the caller's shell says: the simulated upstream, without faults.
    LUMA_BASE_URL: '',
    LUMA_API_KEY: '',
    SIM_FAULT_RATE: '',
    SIM_FAULTS: '',
    SIM_HANG_MS: '',
    SIM_MAX_CONCURRENT: '',
    SIM_SEED: '',
    SIM_OTHER_CLIENTS: '',
  };
  const prompts = Array.from({ length: tasks }, (_, i) => `Restart ${run.id} task ${i}: a kite over the dunes`);
  let seconds = 0;
  let lost = 0;
  let stuck = 0;
  let completed = 0;
  let statesAtKill: Record<string, number> = {};
  let generations: { id: string; prompt: string }[] = [];
  const completedWith = new Map<string, string | undefined>();
  let resumedLine = '';
  let ids: string[] = [];
  let taskIds: (string | undefined)[] = [];
  let killedAfter = 0;
  try {
    const first = await npmStart(env, join(run.dir, 'npm-start-1.log'));
    try {
      const api = new Api(first.url, first.apiKey);
      const started = Date.now();
      const submits = await Promise.all(prompts.map((prompt) => api.create({ user_prompt: prompt })));
      ids = acceptedIds(submits, run.violations);
      taskIds = submits.map((answer) => answer.body?.id as string | undefined);
      lost += tasks - ids.length;
      // Kill while in flight: as soon as a round of GETs (all at once) sees a task past pending (at the latest
      // after 30 s), or at `killAfterMs`. The states printed are the last round's, seen just before the kill.
      let states: string[] = [];
      const until = options.killAfterMs === undefined ? Date.now() + 30_000 : started + options.killAfterMs;
      do {
        states = await mapLimit(ids, ids.length, async (id) => ((await api.get(id)).body?.state as string | undefined) ?? 'unknown');
        if (options.killAfterMs === undefined && states.some((s) => s !== 'pending')) break;
        await sleep(25);
      } while (Date.now() < until);
      process.kill(-first.child.pid!, 'SIGKILL');
      statesAtKill = countBy(states, (s) => s);
      killedAfter = (Date.now() - started) / 1000;
      seconds += killedAfter;
      if (!(await first.gone(20_000))) run.violations.push('npm start was still running 20 s after kill -9 of its process group');
    } finally {
      await first.stop('SIGKILL');
    }
    const inFlight = tasks - (statesAtKill.completed ?? 0) - (statesAtKill.failed ?? 0);
    if (inFlight === 0) run.violations.push(`nothing was in flight at the kill (${formatCounts(statesAtKill)}): the scenario proved nothing`);

    const second = await npmStart(env, join(run.dir, 'npm-start-2.log'));
    try {
      const api = new Api(second.url, second.apiKey);
      const started = Date.now();
      const waited = await waitAllTerminal(api, ids, new TimeScale(timeScale).secondsAsMs(deadlineSeconds) + 60_000);
      seconds += (Date.now() - started) / 1000;
      reportWaitProblems(waited, run.violations);
      lost += waited.notFound.length;
      stuck = waited.stuck.length;
      const expectedSha256 = createHash('sha256').update(readFileSync(SAMPLE_MP4)).digest('hex');
      for (const body of waited.final.values()) {
        if (body.state === 'completed') {
          completed++;
          completedWith.set(body.id, /\/assets\/([^/]+)\/video\.mp4$/.exec(String(body.video_raw?.url))?.[1]);
          if (body.video?.sha256 !== expectedSha256) run.violations.push(`task ${body.id}: video.sha256 ${body.video?.sha256} is not the upstream's ${expectedSha256}`);
        } else run.violations.push(`task ${body.id} failed after the restart: ${body.failure_code}: ${body.failure_reason}`);
      }
      resumedLine = second.lines.find((line) => /^resumed \d+/.test(line)) ?? '';
    } finally {
      await second.stop('SIGTERM');
    }

    // The simulator's persisted generations, both runs together: each task's prompt exactly once.
    const stateFile = join(run.dataDir, 'simulated-luma.json');
    // Other clients' generations of the shared account (`foreign`) are not the gateway's.
    generations = existsSync(stateFile)
      ? (JSON.parse(readFileSync(stateFile, 'utf8')).generations as { id: string; request: { prompt: string }; foreign?: true }[])
          .filter((g) => !g.foreign)
          .map((g) => ({ id: g.id, prompt: g.request.prompt }))
      : [];
    if (!existsSync(stateFile)) run.violations.push(`${stateFile} does not exist`);
  } catch (error) {
    run.violations.push(`the scenario could not run: ${(error as Error).message}`);
  }
  const { duplicated, missing } = checkOnePerPrompt(prompts, generations.map((g) => g.prompt), run.violations, taskIds);
  // Each task completed with its own generation, never another client's same-prompt twin.
  for (const [taskId, upstreamId] of completedWith) {
    const prompt = prompts[taskIds.indexOf(taskId)];
    if (!generations.some((g) => g.id === upstreamId && g.prompt === prompt)) run.violations.push(`task ${taskId} completed with generation ${upstreamId}, which is not its own`);
  }
  const resumed = /^resumed (\d+)/.exec(resumedLine)?.[1] ?? '0';
  return finishRun(run, options, {
    scenario: 'restart',
    tasks,
    lost,
    stuck,
    completed,
    statesAtKill,
    upstreamGenerations: generations.length,
    upstreamDuplicated: duplicated,
    upstreamMissing: missing,
    seconds,
    line:
      `restart: ${tasks} tasks, killed -9 ${killedAfter.toFixed(1)} s after the first submit with ${formatCounts(statesAtKill)}, ${resumed} executions resumed, ${lost} lost, ${stuck} stuck, ` +
      `${completed} completed, upstream generations ${generations.length} (${duplicated} duplicated, ${missing} missing), ${seconds.toFixed(1)} s`,
  });
}
