/**
 * `npm run chaos [-- --scenario burst|chaos|restart|idempotency|fair|queue|all] [--tasks N] [--cap N] [--seed N]
 *   [--kill-after-ms N] [--time-scale X] [--keep]`
 *
 * Proves the local gateway loses nothing under load and faults. Each scenario starts its own gateway on a
 * fresh temp data dir (in-process through startLocalGateway, or `npm start` as a child process where a
 * hard kill is needed), drives it over 127.0.0.1 only, checks its invariants and prints one line of
 * figures. A violated invariant prints `FAIL: …`; the exit code is 0 only when every invariant held.
 * Every wait is bounded in count and time, and the script stops by itself.
 *
 *   burst        N concurrent submits against an upstream capacity of `--cap` (default 200 tasks, cap 5)
 *   chaos        N submits with a fault rate of 0.2 over every fault kind (default 100)
 *   restart      N submits to `npm start`, kill -9 while in flight, restart on the same data dir (default 20)
 *   idempotency  N pairs of simultaneous duplicate submits with one Idempotency-Key each (default 50)
 *   fair         a big tenant's N tasks at once, then a small tenant's few, one by one (default 200, cap 5):
 *                each tenant's wait for a slot (scripts/chaos/fair-share.ts)
 *   queue        a queue of N/10 tasks, then of N, behind the slots (default 2,000, cap 10): what a waiting
 *                task costs at each length (scripts/chaos/fair-share.ts)
 *
 * `--tasks N` sets the count of every selected scenario (pairs for idempotency); `--cap` is the burst's,
 * fair's and queue's upstream capacity; `--kill-after-ms` kills the restart's first `npm start` that long after its first
 * submit instead of at the first task seen past pending. A failed scenario keeps its temp dir (data dir,
 * gateway and function logs) and prints where; `--keep` keeps every scenario's. The scenario functions are
 * exported for test/e2e/chaos.test.ts, which runs them small.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { FaultKind } from '../local/simulated-luma.ts';
import { FAILURE_CODES } from '../functions/commons/domain/failure.ts';
import { DEFAULT_UPSTREAM_RESUBMITS } from '../functions/commons/config.ts';
import {
  Api,
  SCENARIOS,
  acceptedIds,
  checkOnePerPrompt,
  checkSlots,
  countBy,
  describeAnswer,
  finishRun,
  formatCounts,
  groupBy,
  LIFTED_EDGE_LIMITS,
  liftedKeyLimits,
  mapLimit,
  newRun,
  reportWaitProblems,
  sleep,
  waitAllTerminal,
  waitUntil,
  withInProcessGateway,
  type Answer,
  type CommonOptions,
  type ScenarioName,
  type ScenarioReport,
} from './chaos/harness.ts';
import { fair, queue } from './chaos/fair-share.ts';

export { SCENARIOS, fair, queue, type CommonOptions, type ScenarioName, type ScenarioReport };

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SAMPLE_MP4 = join(ROOT, 'local/assets/sample.mp4');
/** The deployed default deadline of a generation, in unscaled seconds. */
const DEFAULT_DEADLINE_SECONDS = 1800;
/**
 * However far time is scaled down, a scenario's deadline is at least this much real time: the functions and
 * emulators do their work at real speed, and a busy machine must not turn a scaled deadline into a
 * deadline_exceeded that no scenario expects.
 */
const MIN_REAL_DEADLINE_SECONDS = 300;

/** A scenario's generation deadline (scaled seconds): the deployed one, what the queue needs, and the real-time floor. */
function scenarioDeadline(timeScale: number, queueSeconds: number): number {
  return Math.max(DEFAULT_DEADLINE_SECONDS, queueSeconds, Math.ceil(MIN_REAL_DEADLINE_SECONDS / timeScale));
}
/** Failure codes a chaos run may legitimately produce, and what causes each. */
const CHAOS_FAILURE_CODES = ['upstream_failed', 'upstream_unavailable', 'download_failed'] as const;
/**
 * A create as a well-behaved client makes it: a 409 idempotency_in_progress ("retry shortly": the first
 * request with that key was still running when this one had waited its turn) is asked again after a
 * moment, until the first has an answer to replay. On a busy machine the first can outlast the API's wait.
 */
async function createAsAClientWould(api: Api, body: unknown, headers: Record<string, string>): Promise<Answer> {
  for (;;) {
    const answer = await api.create(body, headers);
    if (answer.status !== 409 || (answer.body as { error?: { code?: string } })?.error?.code !== 'idempotency_in_progress') return answer;
    await sleep(250);
  }
}

/** The gateway's default: a generation the upstream failed on its side is replaced once. */
const UPSTREAM_RESUBMITS = DEFAULT_UPSTREAM_RESUBMITS;


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

export interface ChaosReport extends ScenarioReport {
  tasks: number;
  seed: number;
  lost: number;
  stuck: number;
  completed: number;
  /** Completed tasks whose `video.sha256` and downloaded bytes both match the upstream's sample. */
  verified: number;
  failed: number;
  failuresByCode: Record<string, number>;
  upstreamCreates: number;
  upstreamDuplicates: number;
  upstreamMaxConcurrent: number;
  slotLeaks: number;
  injected: Record<FaultKind, number>;
}

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

export interface IdempotencyReport extends ScenarioReport {
  pairs: number;
  distinctIds: number;
  /** Pairs whose two answers were both 200 with the same task id. */
  pairsAgreeing: number;
  completed: number;
  upstreamCreates: number;
}

// ---------------------------------------------------------------------------
// burst
// ---------------------------------------------------------------------------

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
      const waited = await waitAllTerminal(api, ids, deadlineSeconds * timeScale * 1000 + 60_000);
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

// ---------------------------------------------------------------------------
// chaos
// ---------------------------------------------------------------------------

export async function chaos(
  options: CommonOptions & {
    tasks?: number;
    /** Probability of an injected fault per upstream request. @default 0.2 */
    faultRate?: number;
    seed?: number;
    /** The gateway's upstream capacity. @default 10 */
    maxConcurrent?: number;
    /** The simulated account's own concurrency limit (429 beyond), below the gateway's cap. @default 8 */
    upstreamLimit?: number;
    /** How long an injected submit_timeout holds the request, before scaling. @default 2000 */
    hangMs?: number;
  } = {},
): Promise<ChaosReport> {
  const tasks = options.tasks ?? 100;
  const faultRate = options.faultRate ?? 0.2;
  const seed = options.seed ?? randomInt(2 ** 31);
  const cap = options.maxConcurrent ?? 10;
  const upstreamLimit = options.upstreamLimit ?? 8;
  const timeScale = options.timeScale ?? 0.01;
  const deadlineSeconds = scenarioDeadline(timeScale, Math.ceil(tasks / Math.min(cap, upstreamLimit)) * 400);
  const expectedSha256 = createHash('sha256').update(readFileSync(SAMPLE_MP4)).digest('hex');
  return withInProcessGateway(
    'chaos',
    options,
    {
      timeScale,
      capacity: { maxConcurrent: cap },
      generationTimeoutSeconds: deadlineSeconds,
      keyLimits: liftedKeyLimits(tasks),
      simulator: { faultRate, seed, hangMs: options.hangMs ?? 2000, concurrencyLimit: upstreamLimit },
    },
    async (gateway, run) => {
      const api = new Api(gateway.url, gateway.apiKeys[0]!);
      const prompts = Array.from({ length: tasks }, (_, i) => `Chaos ${run.id} task ${i}: a lighthouse in a storm`);
      const started = Date.now();
      const submits = await Promise.all(prompts.map((prompt) => api.create({ user_prompt: prompt })));
      const ids = acceptedIds(submits, run.violations);
      const waited = await waitAllTerminal(api, ids, deadlineSeconds * timeScale * 1000 + 120_000);
      const seconds = (Date.now() - started) / 1000;
      const lost = tasks - ids.length + waited.notFound.length;
      reportWaitProblems(waited, run.violations);

      // What the upstream did for each prompt: the truth each task's outcome must agree with.
      const generations = gateway.simulatedLuma!.generations();
      const byPrompt = groupBy(generations, (g) => g.prompt);
      const promptOf = new Map(submits.map((answer, i) => [answer.body?.id as string, prompts[i]!]));
      const failuresByCode: Record<string, number> = Object.fromEntries(CHAOS_FAILURE_CODES.map((code) => [code, 0]));
      let completed = 0;
      let verified = 0;
      const completedBodies: any[] = [];
      let resubmitted = 0;
      for (const body of waited.final.values()) {
        // Oldest first; a generation the upstream failed on its side (generation_fail) may be followed by
        // one resubmit (upstreamResubmits, default 1): anything more is a duplicate.
        const upstream = [...(byPrompt.get(promptOf.get(body.id)!) ?? [])].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
        const last = upstream.at(-1);
        const outcomes = upstream.map((g) => g.outcome).join(', ') || 'none';
        const where = `task ${body.id} (${body.state}${body.failure_code ? ` ${body.failure_code}: ${body.failure_reason}` : ''}; upstream generations: ${outcomes})`;
        resubmitted += Math.max(0, upstream.length - 1);
        if (upstream.length > 1 + UPSTREAM_RESUBMITS || upstream.slice(0, -1).some((g) => g.outcome !== 'fail')) {
          run.violations.push(`${where} was created ${upstream.length} times upstream`);
        }
        if (body.state === 'completed') {
          completed++;
          completedBodies.push(body);
          if (last?.outcome !== 'complete') run.violations.push(`${where} completed without a completed upstream generation`);
          // Its own generation, never another client's same-prompt twin: the upstream link names it.
          const ownId = /\/assets\/([^/]+)\/video\.mp4$/.exec(String(body.video_raw?.url))?.[1];
          if (ownId !== last?.id) run.violations.push(`${where} completed with generation ${ownId}, not its own ${last?.id}`);
          continue;
        }
        const code = String(body.failure_code);
        failuresByCode[code] = (failuresByCode[code] ?? 0) + 1;
        if (!(CHAOS_FAILURE_CODES as readonly string[]).includes(code)) {
          run.violations.push(`${where} failed with ${(FAILURE_CODES as readonly string[]).includes(code) ? 'the unexpected' : 'the unknown'} code ${code}`);
        } else if (code === 'upstream_failed' && last?.outcome !== 'fail') {
          run.violations.push(`${where} reports upstream_failed, but the upstream did not fail it`);
        } else if (code === 'download_failed' && last?.outcome !== 'complete') {
          run.violations.push(`${where} reports download_failed, but the upstream never completed it`);
        }
        if (last?.outcome === 'fail' && upstream.length > UPSTREAM_RESUBMITS && code !== 'upstream_failed') {
          run.violations.push(`${where}: the upstream failed every submit (generation_fail), so the code must be upstream_failed`);
        }
      }

      // Every completed video: the recorded digest, and the bytes behind the presigned link, are the upstream's.
      await mapLimit(completedBodies, 8, async (body) => {
        const recorded = body.video?.sha256;
        if (recorded !== expectedSha256) {
          run.violations.push(`task ${body.id}: video.sha256 is ${recorded}, the upstream's video is ${expectedSha256}`);
          return;
        }
        try {
          const response = await fetch(body.video.url, { signal: AbortSignal.timeout(30_000) });
          const bytes = Buffer.from(await response.arrayBuffer());
          const actual = createHash('sha256').update(bytes).digest('hex');
          if (response.status !== 200 || actual !== expectedSha256) {
            run.violations.push(`task ${body.id}: the stored video (HTTP ${response.status}, ${bytes.length} bytes) hashes to ${actual}, not ${expectedSha256}`);
          } else verified++;
        } catch (error) {
          run.violations.push(`task ${body.id}: the stored video could not be downloaded: ${(error as Error).message}`);
        }
      });

      const stats = gateway.simulatedLuma!.stats();
      const limit = Math.min(cap, upstreamLimit);
      if (stats.maxConcurrent > limit) run.violations.push(`the upstream saw ${stats.maxConcurrent} generations in flight at once (limit ${limit})`);
      // Creates beyond one a task and the resubmits its upstream failures earned.
      const duplicates = [...byPrompt.values()].reduce((sum, list) => sum + Math.max(0, list.length - 1 - Math.min(UPSTREAM_RESUBMITS, list.filter((g) => g.outcome === 'fail').length)), 0);
      const slotLeaks = await checkSlots(gateway, cap, run.violations);
      const failed = waited.final.size - completed;
      const injectedTotal = Object.values(stats.injected).reduce((a, b) => a + b, 0);
      return {
        tasks,
        seed,
        lost,
        stuck: waited.stuck.length,
        completed,
        verified,
        failed,
        failuresByCode,
        upstreamCreates: stats.creates,
        upstreamDuplicates: duplicates,
        upstreamResubmitted: resubmitted,
        upstreamMaxConcurrent: stats.maxConcurrent,
        slotLeaks,
        injected: stats.injected,
        seconds,
        line:
          `chaos: ${tasks} tasks, fault rate ${faultRate}, seed ${seed}, ${lost} lost, ${waited.stuck.length} stuck, ` +
          `${completed} completed (${verified} SHA-256 verified), ${failed} failed (${formatCounts(failuresByCode)}), ` +
          `${slotLeaks} slot leaks, upstream creates ${stats.creates} (${duplicates} duplicated, ${resubmitted} resubmitted after an upstream fault), ` +
          `upstream max concurrent ${stats.maxConcurrent} (cap ${cap}, upstream limit ${upstreamLimit}, ${stats.rejectedConcurrency} refused), ` +
          `${injectedTotal} faults injected (${formatCounts(stats.injected)}), ${seconds.toFixed(1)} s`,
      };
    },
  );
}

// ---------------------------------------------------------------------------
// restart
// ---------------------------------------------------------------------------

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
    LOCAL_TIME_SCALE: String(timeScale),
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
      const waited = await waitAllTerminal(api, ids, deadlineSeconds * timeScale * 1000 + 60_000);
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

// ---------------------------------------------------------------------------
// idempotency
// ---------------------------------------------------------------------------

export async function idempotency(options: CommonOptions & { pairs?: number } = {}): Promise<IdempotencyReport> {
  const pairs = options.pairs ?? 50;
  const timeScale = options.timeScale ?? 0.01;
  const deadlineSeconds = scenarioDeadline(timeScale, Math.ceil(pairs / 10) * 300);
  const settings = { timeScale, generationTimeoutSeconds: deadlineSeconds, keyLimits: liftedKeyLimits(2 * pairs) };
  return withInProcessGateway('idempotency', options, settings, async (gateway, run) => {
    const api = new Api(gateway.url, gateway.apiKeys[0]!);
    const prompts = Array.from({ length: pairs }, (_, i) => `Idempotency ${run.id} pair ${i}: a fox in fresh snow`);
    const started = Date.now();
    const answers = await Promise.all(
      prompts.map((prompt, i) => {
        const headers = { 'idempotency-key': `chaos-${run.id}-${i}` };
        const body = { user_prompt: prompt, aspect_ratio: '16:9' };
        return Promise.all([createAsAClientWould(api, body, headers), createAsAClientWould(api, body, headers)]);
      }),
    );
    let pairsAgreeing = 0;
    const ids: string[] = [];
    answers.forEach(([a, b], i) => {
      if (a.status === 200 && b.status === 200 && a.body.id === b.body.id) {
        pairsAgreeing++;
        ids.push(a.body.id);
      } else {
        run.violations.push(`pair ${i} was answered ${a.status} ${describeAnswer(a)} and ${b.status} ${describeAnswer(b)}`);
        for (const answer of [a, b]) if (answer.status === 200 && !ids.includes(answer.body.id)) ids.push(answer.body.id);
      }
    });
    const distinctIds = new Set(ids).size;
    if (distinctIds !== pairs) run.violations.push(`${pairs} pairs gave ${distinctIds} distinct task ids`);
    const waited = await waitAllTerminal(api, [...new Set(ids)], deadlineSeconds * timeScale * 1000 + 60_000);
    const seconds = (Date.now() - started) / 1000;
    reportWaitProblems(waited, run.violations);
    let completed = 0;
    for (const body of waited.final.values()) {
      if (body.state === 'completed') completed++;
      else run.violations.push(`task ${body.id} failed without any injected fault: ${body.failure_code}: ${body.failure_reason}`);
    }
    const stats = gateway.simulatedLuma!.stats();
    if (stats.creates !== pairs) run.violations.push(`the upstream created ${stats.creates} generations for ${pairs} pairs`);
    const taskIds = answers.map(([a]) => a.body?.id as string | undefined);
    checkOnePerPrompt(prompts, gateway.simulatedLuma!.generations().map((g) => g.prompt), run.violations, taskIds);
    return {
      pairs,
      distinctIds,
      pairsAgreeing,
      completed,
      upstreamCreates: stats.creates,
      seconds,
      line:
        `idempotency: ${pairs} pairs, ${distinctIds} distinct task ids, ${pairsAgreeing} pairs answered with one id, ` +
        `upstream creates ${stats.creates}, ${completed} completed, ${seconds.toFixed(1)} s`,
    };
  });
}

// ---------------------------------------------------------------------------
// `npm start` as a child process
// ---------------------------------------------------------------------------

interface NpmStart {
  child: ChildProcess;
  url: string;
  apiKey: string;
  /** The lines of its output worth matching (the rest is in the log file). */
  lines: string[];
  /** Resolves true once the process and every process of its group are gone, false after `ms`. */
  gone(ms: number): Promise<boolean>;
  /** Signals the group, waits (bounded), and SIGKILLs what is left. */
  stop(signal: NodeJS.Signals): Promise<void>;
}

const children = new Set<ChildProcess>();

export async function npmStart(env: Record<string, string>, logFile: string): Promise<NpmStart> {
  const log = createWriteStream(logFile);
  const child = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: a kill of -pid takes npm, tsx and node together
  });
  children.add(child);
  const lines: string[] = [];
  let partial = '';
  const onData = (chunk: Buffer) => {
    log.write(chunk);
    const text = partial + chunk.toString('utf8');
    const split = text.split('\n');
    partial = split.pop()!.slice(-10_000);
    for (const line of split) {
      if (/^(Listening on|API key:|resumed|reconciler|Could not start|SIGTERM|SIGINT)/.test(line)) lines.push(line);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.once('exit', () => {
    children.delete(child);
    log.end();
  });
  const gone = async (ms: number) => {
    const until = Date.now() + ms;
    await Promise.race([exited, sleep(ms)]);
    return (await waitUntil(async () => (groupAlive(child.pid!) ? undefined : true), Math.max(0, until - Date.now()))) === true;
  };
  const stop = async (signal: NodeJS.Signals) => {
    if (groupAlive(child.pid!)) signalGroup(child, signal);
    if (!(await gone(20_000))) {
      signalGroup(child, 'SIGKILL');
      await gone(10_000);
    }
  };
  const url = await waitUntil(
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`npm start exited early: ${lines.join(' | ')} (see ${logFile})`);
      return lines.map((line) => /^Listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line)?.[1]).find(Boolean);
    },
    120_000,
  );
  if (!url) {
    await stop('SIGKILL');
    throw new Error(`npm start did not listen within 120 s (see ${logFile})`);
  }
  // A key passed in is printed masked: only a generated one can be read from the output.
  const apiKey = env.LOCAL_API_KEY?.split(',')[0] || lines.map((line) => /^API key: (\S+)/.exec(line)?.[1]).find(Boolean)!;
  return { child, url, apiKey, lines, gone, stop };
}

/** True while any process of the group still runs (signal 0 only checks). */
export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

/** Kills every `npm start` group this module started and that still runs (on exit or interruption). */
export function killChildren(): void {
  for (const child of children) signalGroup(child, 'SIGKILL');
}


// ---------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------

const USAGE =
  'usage: npm run chaos -- [--scenario burst|chaos|restart|idempotency|fair|queue|all] [--tasks N] [--cap N] [--seed N] [--kill-after-ms N]\n  [--time-scale X] [--keep]';
/** The whole run stops by itself after this long, whatever happens. */
const WATCHDOG_MS = 45 * 60_000;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'all' },
      tasks: { type: 'string' },
      cap: { type: 'string' },
      'kill-after-ms': { type: 'string' },
      seed: { type: 'string' },
      'time-scale': { type: 'string', default: '0.01' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const selected = values.scenario === 'all' ? SCENARIOS : [values.scenario as ScenarioName];
  if (!selected.every((name) => SCENARIOS.includes(name))) throw new Error(`Unknown scenario "${values.scenario}".\n${USAGE}`);
  const integer = (name: string, raw: string | undefined, min: number) => {
    if (raw === undefined) return undefined;
    if (!/^-?\d+$/.test(raw) || Number(raw) < min) throw new Error(`--${name} must be an integer ≥ ${min}, not "${raw}".`);
    return Number(raw);
  };
  const tasks = integer('tasks', values.tasks, 1);
  const cap = integer('cap', values.cap, 1);
  const seed = integer('seed', values.seed, 0) ?? randomInt(2 ** 31);
  const timeScale = Number(values['time-scale']);
  if (!Number.isFinite(timeScale) || timeScale <= 0) throw new Error(`--time-scale must be a number > 0, not "${values['time-scale']}".`);
  const common: CommonOptions = { timeScale, keepOnFailure: true, keepAlways: values.keep };

  const watchdog = setTimeout(() => {
    console.log(`FAIL: the run did not finish within ${WATCHDOG_MS / 60_000} minutes; stopping`);
    killChildren();
    process.exit(1);
  }, WATCHDOG_MS);
  watchdog.unref();

  let failed = false;
  for (const name of selected) {
    const report: ScenarioReport =
      name === 'burst'
        ? await burst({ ...common, tasks, maxConcurrent: cap })
        : name === 'chaos'
          ? await chaos({ ...common, tasks, seed })
          : name === 'restart'
            ? await restart({ ...common, tasks, killAfterMs: integer('kill-after-ms', values['kill-after-ms'], 0) })
            : name === 'fair'
              ? await fair({ ...common, tasks, maxConcurrent: cap })
              : name === 'queue'
                ? await queue({ ...common, tasks, maxConcurrent: cap })
                : await idempotency({ ...common, pairs: tasks });
    console.log(report.line);
    for (const violation of report.violations) console.log(`FAIL: ${name}: ${violation}`);
    if (report.keptDir) console.log(`  (${name}: data dir and logs kept in ${report.keptDir})`);
    failed ||= report.violations.length > 0;
  }
  return failed ? 1 : 0;
}

const invokedDirectly = (() => {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();

if (invokedDirectly) {
  const interrupted = (signal: NodeJS.Signals) => {
    console.log(`${signal}: stopping`);
    killChildren();
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  main().then(
    (code) => process.exit(code),
    (error: Error) => {
      console.log(`FAIL: ${error.message}`);
      killChildren();
      process.exit(1);
    },
  );
}
