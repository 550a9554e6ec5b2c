/**
 * chaos: N submits (default 100) with a fault rate of 0.2 over every fault kind the simulated upstream can
 * inject: every task ends with the outcome the upstream's own record justifies (completed with its own
 * generation's bytes, or failed with the code its faults explain), nothing is duplicated upstream beyond the
 * resubmits an upstream failure earns, and no slot is held afterwards.
 */
import { createHash, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FaultKind } from '../../local/simulated-luma.ts';
import { FAILURE_CODES } from '../../functions/commons/domain/failure.ts';
import { DEFAULT_UPSTREAM_RESUBMITS } from '../../functions/commons/config.ts';
import { TimeScale } from '../../local/time-scale.ts';
import {
  Api,
  liftedKeyLimits,
  scenarioDeadline,
  withInProcessGateway,
  SAMPLE_MP4,
  type CommonOptions,
  type ScenarioReport,
} from './harness.ts';
import { formatCounts, groupBy, mapLimit } from './util.ts';
import { acceptedIds, checkSlots, reportWaitProblems, waitAllTerminal } from './invariants.ts';

/** Failure codes a chaos run may legitimately produce, and what causes each. */
const CHAOS_FAILURE_CODES = ['upstream_failed', 'upstream_unavailable', 'download_failed'] as const;

/** The gateway's default: a generation the upstream failed on its side is replaced once. */
const UPSTREAM_RESUBMITS = DEFAULT_UPSTREAM_RESUBMITS;

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
      const waited = await waitAllTerminal(api, ids, new TimeScale(timeScale).secondsAsMs(deadlineSeconds) + 120_000);
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
