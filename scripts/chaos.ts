/**
 * `npm run chaos [-- --scenario burst|chaos|restart|idempotency|all] [--tasks N] [--cap N] [--seed N]
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
 *
 * `--tasks N` sets the count of every selected scenario (pairs for idempotency); `--cap` is the burst's
 * upstream capacity; `--kill-after-ms` kills the restart's first `npm start` that long after its first
 * submit instead of at the first task seen past pending. A failed scenario keeps its temp dir (data dir,
 * gateway and function logs) and prints where; `--keep` keeps every scenario's. The scenario functions are
 * exported for test/e2e/chaos.test.ts, which runs them small.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { startLocalGateway, type LocalGateway, type LocalGatewayOptions } from '../local/gateway.ts';
import { LOCAL_REGION } from '../local/local-aws.ts';
import type { FaultKind } from '../local/simulated-luma.ts';
import { UpstreamCapacity } from '../functions/commons/adapters/upstream-capacity.ts';
import { FAILURE_CODES } from '../functions/commons/domain/failure.ts';
import { DEFAULT_UPSTREAM_RESUBMITS } from '../functions/commons/config.ts';
import { seedGenerationSchema } from '../functions/commons/domain/seed-response.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SAMPLE_MP4 = join(ROOT, 'local/assets/sample.mp4');
const TABLE_NAME = 'luma-gateway';
/** The deployed default deadline of a generation, in unscaled seconds. */
const DEFAULT_DEADLINE_SECONDS = 1800;
/** Failure codes a chaos run may legitimately produce, and what causes each. */
const CHAOS_FAILURE_CODES = ['upstream_failed', 'upstream_unavailable', 'download_failed'] as const;
/** The gateway's default: a generation the upstream failed on its side is replaced once. */
const UPSTREAM_RESUBMITS = DEFAULT_UPSTREAM_RESUBMITS;

export type ScenarioName = 'burst' | 'chaos' | 'restart' | 'idempotency';
export const SCENARIOS: readonly ScenarioName[] = ['burst', 'chaos', 'restart', 'idempotency'];

export interface CommonOptions {
  /** LOCAL time scale of the gateway and the simulated upstream. @default 0.01 */
  timeScale?: number;
  /** Keep the scenario's temp dir (data dir and logs) when an invariant fails. @default true */
  keepOnFailure?: boolean;
  /** Keep it whatever happens. @default false */
  keepAlways?: boolean;
}

export interface ScenarioReport {
  scenario: ScenarioName;
  /** The line of figures, e.g. `burst: 200 tasks, 0 lost, …, 41.2 s`. */
  line: string;
  /** Every violated invariant, one sentence each (task ids, states, codes and reasons included). */
  violations: string[];
  /** From the first submit until every task was terminal (or the bound ran out). */
  seconds: number;
  /** Where the data dir and the logs are, when kept. */
  keptDir?: string;
}

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
  const deadlineSeconds = Math.max(DEFAULT_DEADLINE_SECONDS, Math.ceil(tasks / cap) * 300);
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
  const deadlineSeconds = Math.max(DEFAULT_DEADLINE_SECONDS, Math.ceil(tasks / Math.min(cap, upstreamLimit)) * 400);
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
  // Room for two starts of `npm start` and the queue, on a slow machine: at least two minutes real time.
  const deadlineSeconds = Math.max(DEFAULT_DEADLINE_SECONDS, Math.ceil(120 / timeScale));
  const env = {
    PORT: '0',
    LOCAL_TIME_SCALE: String(timeScale),
    LOCAL_DATA_DIR: run.dataDir,
    LOCAL_API_KEY: `restart-${randomBytes(12).toString('hex')}`,
    GENERATION_TIMEOUT_SECONDS: String(deadlineSeconds),
    KEY_MAX_CONCURRENT: String(liftedKeyLimits(tasks).maxConcurrent),
    KEY_RATE_PER_MINUTE: String(liftedKeyLimits(tasks).ratePerMinute),
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
  const deadlineSeconds = Math.max(DEFAULT_DEADLINE_SECONDS, Math.ceil(pairs / 10) * 300);
  const settings = { timeScale, generationTimeoutSeconds: deadlineSeconds, keyLimits: liftedKeyLimits(2 * pairs) };
  return withInProcessGateway('idempotency', options, settings, async (gateway, run) => {
    const api = new Api(gateway.url, gateway.apiKeys[0]!);
    const prompts = Array.from({ length: pairs }, (_, i) => `Idempotency ${run.id} pair ${i}: a fox in fresh snow`);
    const started = Date.now();
    const answers = await Promise.all(
      prompts.map((prompt, i) => {
        const headers = { 'idempotency-key': `chaos-${run.id}-${i}` };
        const body = { user_prompt: prompt, aspect_ratio: '16:9' };
        return Promise.all([api.create(body, headers), api.create(body, headers)]);
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
// Running a scenario: temp dirs, logs, the gateway's lifetime
// ---------------------------------------------------------------------------

interface Run {
  scenario: ScenarioName;
  /** Short random id, in every prompt, so prompts are unique across runs. */
  id: string;
  dir: string;
  dataDir: string;
  violations: string[];
}

function newRun(scenario: ScenarioName): Run {
  const dir = mkdtempSync(join(tmpdir(), `chaos-${scenario}-`));
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  return { scenario, id: randomBytes(4).toString('hex'), dir, dataDir, violations: [] };
}

function finishRun<T extends Omit<ScenarioReport, 'violations' | 'keptDir'>>(run: Run, options: CommonOptions, report: T): T & ScenarioReport {
  const keep = options.keepAlways === true || (run.violations.length > 0 && (options.keepOnFailure ?? true));
  if (!keep) rmSync(run.dir, { recursive: true, force: true });
  return { ...report, violations: run.violations, ...(keep && { keptDir: run.dir }) };
}

type InProcessSettings = Pick<LocalGatewayOptions, 'timeScale' | 'capacity' | 'generationTimeoutSeconds' | 'keyLimits' | 'simulator'>;

/**
 * Every scenario submits from one key, and what it measures is the upstream side (its cap, its faults):
 * the per-key limits (5 unfinished by default) would refuse most of a burst with 429, by design, so they
 * are raised above the scenario's own count.
 */
function liftedKeyLimits(tasks: number): { maxConcurrent: number; ratePerMinute: number } {
  return { maxConcurrent: tasks + 10, ratePerMinute: 2 * tasks + 30 };
}

/** Starts a gateway in this process with its logs in files, runs `body`, closes it, and tidies up. */
async function withInProcessGateway<T extends Omit<ScenarioReport, 'violations' | 'keptDir' | 'scenario'>>(
  scenario: ScenarioName,
  options: CommonOptions,
  settings: InProcessSettings,
  body: (gateway: LocalGateway, run: Run) => Promise<T>,
): Promise<T & ScenarioReport> {
  const run = newRun(scenario);
  const gatewayLog = createWriteStream(join(run.dir, 'gateway.log'));
  const functionLog = createWriteStream(join(run.dir, 'functions.log'));
  let gateway: LocalGateway | undefined;
  let report: T | undefined;
  try {
    gateway = await startLocalGateway({
      dataDir: run.dataDir,
      port: 0,
      apiKeys: [`chaos-${randomBytes(12).toString('hex')}`],
      ...settings,
      log: (line) => gatewayLog.write(`${new Date().toISOString()} ${line}\n`),
      functionLogs: (chunk) => functionLog.write(chunk),
    });
    report = await body(gateway, run);
  } catch (error) {
    run.violations.push(`the scenario could not run: ${(error as Error).stack ?? (error as Error).message}`);
  } finally {
    await gateway?.close();
    await Promise.all([endStream(gatewayLog), endStream(functionLog)]);
  }
  const reconciler = reconcilerRepairs(join(run.dir, 'gateway.log'));
  const fallback = { seconds: 0, line: `${scenario}: did not run` } as unknown as T;
  const result = report ?? fallback;
  return finishRun(run, options, {
    ...result,
    scenario,
    line: reconciler ? `${result.line}, reconciler: ${reconciler}` : result.line,
  });
}

/** What the reconciler repaired during the run (a repaired slot or a restarted workflow is worth knowing). */
function reconcilerRepairs(logFile: string): string {
  const totals = { started: 0, failed: 0, slotsReleased: 0 };
  if (!existsSync(logFile)) return '';
  for (const match of readFileSync(logFile, 'utf8').matchAll(/reconciler: (\{.*\})/g)) {
    const report = JSON.parse(match[1]!) as Partial<typeof totals>;
    for (const key of Object.keys(totals) as (keyof typeof totals)[]) totals[key] += report[key] ?? 0;
  }
  return totals.started || totals.failed || totals.slotsReleased
    ? `${totals.started} started, ${totals.failed} failed, ${totals.slotsReleased} slots released`
    : '';
}

function endStream(stream: WriteStream): Promise<void> {
  return new Promise((done) => stream.end(() => done()));
}

// ---------------------------------------------------------------------------
// Checks shared by the scenarios
// ---------------------------------------------------------------------------

interface Answer {
  status: number;
  body: any;
  headers?: Headers;
  error?: string;
}

/** The ids of the submits answered 200; every other answer is a lost task. */
function acceptedIds(answers: Answer[], violations: string[]): string[] {
  const refused = answers.filter((answer) => answer.status !== 200 || typeof answer.body?.id !== 'string');
  if (refused.length > 0) {
    violations.push(
      `${refused.length} submits were not answered 200 with a task: ${refused.slice(0, 10).map((a) => `${a.status} ${describeAnswer(a)}`).join('; ')}`,
    );
  }
  return answers.filter((answer) => !refused.includes(answer)).map((answer) => answer.body.id as string);
}

function describeAnswer(answer: Answer): string {
  if (answer.error) return answer.error;
  if (answer.status === 200) return `id ${answer.body?.id}`;
  return JSON.stringify(answer.body).slice(0, 300);
}

interface Waited {
  /** The terminal answer of each task that reached one. */
  final: Map<string, any>;
  /** Tasks still not terminal when the bound ran out, with the last state seen. */
  stuck: { id: string; state: string; message?: string }[];
  notFound: string[];
  /** GETs that failed or answered other than 200/404, and answers off the published schema. */
  errors: string[];
}

/** Polls every unfinished task, a few at a time, until all are terminal or `boundMs` has passed. */
async function waitAllTerminal(api: Api, ids: string[], boundMs: number): Promise<Waited> {
  const final = new Map<string, any>();
  const last = new Map<string, any>();
  const notFound: string[] = [];
  const errors: string[] = [];
  const pending = new Set(ids);
  const until = Date.now() + boundMs;
  while (pending.size > 0 && Date.now() < until) {
    await mapLimit([...pending], 8, async (id) => {
      const answer = await api.get(id);
      if (answer.status === 404) {
        notFound.push(id);
        pending.delete(id);
      } else if (answer.status !== 200) {
        errors.push(`GET ${id} answered ${answer.status} ${describeAnswer(answer)}`);
      } else {
        last.set(id, answer.body);
        if (answer.body.state === 'completed' || answer.body.state === 'failed') {
          const parsed = seedGenerationSchema.safeParse(answer.body);
          if (!parsed.success) errors.push(`GET ${id}: the answer is off the schema: ${parsed.error.message.slice(0, 300)}`);
          final.set(id, answer.body);
          pending.delete(id);
        }
      }
    });
    if (pending.size > 0) await sleep(Math.min(1000, 100 + pending.size * 5));
  }
  const stuck = [...pending].map((id) => ({ id, state: last.get(id)?.state ?? 'never seen', message: last.get(id)?.message }));
  return { final, stuck, notFound, errors };
}

function reportWaitProblems(waited: Waited, violations: string[]): void {
  if (waited.notFound.length > 0) violations.push(`${waited.notFound.length} accepted tasks answered 404: ${waited.notFound.slice(0, 10).join(', ')}`);
  if (waited.stuck.length > 0) {
    violations.push(
      `${waited.stuck.length} tasks never became terminal: ${waited.stuck.slice(0, 10).map((s) => `${s.id} ${s.state} (${s.message})`).join('; ')}`,
    );
  }
  if (waited.errors.length > 0) violations.push(`${waited.errors.length} GETs went wrong: ${waited.errors.slice(0, 5).join('; ')}`);
}

/** Each prompt must appear in exactly one upstream generation. */
function checkOnePerPrompt(
  prompts: string[],
  upstreamPrompts: string[],
  violations: string[],
  taskIds: (string | undefined)[] = [],
): { duplicated: number; missing: number } {
  const counts = countBy(upstreamPrompts, (p) => p);
  const name = (p: string) => {
    const id = taskIds[prompts.indexOf(p)];
    return id ? `task ${id} ("${p}")` : `"${p}"`;
  };
  const duplicated = prompts.filter((p) => (counts[p] ?? 0) > 1);
  const missing = prompts.filter((p) => (counts[p] ?? 0) === 0);
  if (duplicated.length > 0) {
    violations.push(`${duplicated.length} tasks were created more than once upstream: ${duplicated.slice(0, 10).map((p) => `${name(p)} ×${counts[p]}`).join('; ')}`);
  }
  if (missing.length > 0) violations.push(`${missing.length} tasks were never created upstream: ${missing.slice(0, 10).map(name).join('; ')}`);
  return { duplicated: duplicated.length, missing: missing.length };
}

/**
 * Once every execution has ended (a failed task's slot is released right after its failure is recorded),
 * no `SLOT#n` item may still have a holder. Returns the number of leaked slots.
 */
async function checkSlots(gateway: LocalGateway, maxConcurrent: number, violations: string[]): Promise<number> {
  const idle = await waitUntil(async () => (gateway.stepFunctions.listExecutions('RUNNING').length === 0 ? true : undefined), 30_000);
  if (!idle) {
    const running = gateway.stepFunctions.listExecutions('RUNNING');
    violations.push(`${running.length} executions still RUNNING after every task was terminal: ${running.slice(0, 5).map((e) => e.name).join(', ')}`);
  }
  const client = new DynamoDBClient({ endpoint: gateway.dynamoDbEndpoint, region: LOCAL_REGION, credentials: gateway.credentials });
  try {
    const capacity = new UpstreamCapacity(DynamoDBDocumentClient.from(client), TABLE_NAME, { maxConcurrent, maxCreatesPerMinute: 1 });
    const held = (await capacity.slots()).filter((slot) => slot.holder);
    if (held.length > 0) {
      violations.push(`${held.length} upstream slots are still held: ${held.map((s) => `SLOT#${s.index} by ${s.holder} until ${new Date(s.leaseUntil ?? 0).toISOString()}`).join('; ')}`);
    }
    return held.length;
  } finally {
    client.destroy();
  }
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

async function npmStart(env: Record<string, string>, logFile: string): Promise<NpmStart> {
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
  const apiKey = lines.map((line) => /^API key: (\S+)/.exec(line)?.[1]).find(Boolean)!;
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
// Small helpers
// ---------------------------------------------------------------------------

/** The seed API over fetch, every request bounded in time; a transport error is an answer with status 0. */
class Api {
  constructor(
    readonly baseUrl: string,
    readonly apiKey: string,
  ) {}

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    try {
      const response = await fetch(this.baseUrl + path, {
        method,
        headers: {
          authorization: `Bearer ${this.apiKey}`,
          ...(body !== undefined && { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: keep the text
      }
      return { status: response.status, body: parsed, headers: response.headers };
    } catch (error) {
      return { status: 0, body: undefined, error: `${(error as Error).name}: ${(error as Error).message}` };
    }
  }

  create(body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    return this.request('POST', '/luma/generations', body, headers);
  }

  get(id: string): Promise<Answer> {
    return this.request('GET', `/luma/generations/${id}`);
  }
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Probes every 100 ms until it yields a value; undefined when `ms` ran out. */
async function waitUntil<T>(probe: () => Promise<T | undefined>, ms: number): Promise<T | undefined> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= until) return undefined;
    await sleep(100);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}

function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

function formatCounts(counts: Record<string, number>): string {
  return Object.entries(counts).map(([key, value]) => `${key} ${value}`).join(', ') || 'none';
}

// ---------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------

const USAGE =
  'usage: npm run chaos -- [--scenario burst|chaos|restart|idempotency|all] [--tasks N] [--cap N] [--seed N] [--kill-after-ms N]\n  [--time-scale X] [--keep]';
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
