/**
 * A batch of "3-minute" generations through the local gateway (the simulated upstream queues each for
 * 10 s and dreams for 170 s, on the time scale), with the upstream's callbacks or without (the gateway
 * then polls adaptively), and what each cost: the lag from the upstream's completion to the task's, the
 * state transitions of its execution, the upstream's reads of it, and the usage of every function.
 *
 * The lag is measured in real time. With callbacks every part of it is real work (the callback, the read,
 * the wake, the copy), so it is what AWS would see. Without, part of it is a scaled wait: its full-time
 * equivalent counts the time from the completion to the read that saw it on the gateway's clock (÷ the
 * scale), less the real work between a wait's end and its read (the invocation, the task's read: the
 * shortest gap between two of the generation's reads, less the shortest interval, scaled), which counts as
 * measured, like everything after the read.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbTaskStore } from '../../functions/commons/adapters/task-store.ts';
import type { Task } from '../../functions/commons/domain/task.ts';
import { startLocalGateway, type LocalGateway } from '../../local/gateway.ts';
import { LOCAL_REGION, LOCAL_TABLE_NAME } from '../../local/local-aws.ts';
import { usageBetween, type FunctionUsage } from '../../local/usage.ts';
import { GatewayClient } from '../gateway-client.ts';
import { median } from './init.ts';
import { defaultOf } from '../../functions/commons/settings/reader.ts';

export const QUEUED_SECONDS = 10;
export const DREAMING_SECONDS = 170;
const BENCH_KEY = 'bench-key-0123456789abcdef';

export interface Spread {
  p50: number;
  p95: number;
  max: number;
}

export interface GenerationFigures {
  callbacks: boolean;
  generations: number;
  time_scale: number;
  /** The upstream's own time for each generation, in gateway seconds. */
  generation_seconds: number;
  completion_lag_ms: Spread;
  completion_lag_full_time_ms: Spread;
  transitions_per_generation: Spread;
  upstream_polls_per_generation: Spread;
  /** Per function, per generation: invocations, their milliseconds, DynamoDB units and S3 requests. */
  usage_per_generation: Record<string, FunctionUsage>;
}

export interface BenchGateway {
  gateway: LocalGateway;
  client: GatewayClient;
  tasks: DynamoDbTaskStore;
  close(): Promise<void>;
}

/** A local gateway for the bench: its edge and per-key limits out of the way, the upstream's timings as above. */
export async function benchGateway(options: { callbacks: boolean; timeScale: number; workDir: string }): Promise<BenchGateway> {
  const dataDir = mkdtempSync(join(options.workDir, options.callbacks ? 'callbacks-' : 'polling-'));
  const gateway = await startLocalGateway({
    dataDir,
    port: 0,
    apiKeys: [BENCH_KEY],
    timeScale: options.timeScale,
    upstreamCallbacks: options.callbacks,
    simulator: { queuedSeconds: QUEUED_SECONDS, dreamingSeconds: DREAMING_SECONDS, callbacks: options.callbacks, otherClients: false },
    edgeLimits: { requestsPerKey: 2_000_000_000, requestsPerAddress: 2_000_000_000, rateLimit: 1_000_000, burstLimit: 1_000_000 },
    keyLimits: { ratePerMinute: 100_000, maxQueued: 100_000 },
    log: () => {},
    functionLogs: () => {},
  });
  const dynamo = new DynamoDBClient({ endpoint: gateway.dynamoDbEndpoint, region: LOCAL_REGION, credentials: gateway.credentials });
  return {
    gateway,
    client: new GatewayClient(gateway.url, gateway.apiKeys[0]!),
    tasks: new DynamoDbTaskStore(DynamoDBDocumentClient.from(dynamo), LOCAL_TABLE_NAME),
    close: async () => {
      dynamo.destroy();
      await gateway.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs `count` generations at once (after one to warm the functions up, not counted), and measures them. */
export async function measureGenerations(bench: BenchGateway, options: { callbacks: boolean; count: number; timeScale: number }): Promise<GenerationFigures> {
  await runBatch(bench, 1, 'warm-up');
  const before = bench.gateway.usage.snapshot();
  const tasks = await runBatch(bench, options.count, 'measured');
  const after = bench.gateway.usage.snapshot();

  const scale = options.timeScale;
  const upstreamMs = (QUEUED_SECONDS + DREAMING_SECONDS) * 1000 * scale;
  const generations = new Map(bench.gateway.simulatedLuma!.generations().map((generation) => [generation.id, generation]));
  const executions = new Map(bench.gateway.stepFunctions.listExecutions().map((execution) => [execution.name, execution.executionArn]));
  const lags: number[] = [];
  const fullTimeLags: number[] = [];
  const transitions: number[] = [];
  const polls: number[] = [];
  for (const task of tasks) {
    const generation = generations.get(task.upstreamId!)!;
    const reads = bench.gateway.simulatedLuma!.reads(generation.id);
    const completedUpstream = Date.parse(generation.createdAt) + upstreamMs;
    const completed = Date.parse(task.history.find((entry) => entry.status === 'completed')!.at);
    const seen = reads.find((read) => read.state === 'completed')?.atMs ?? completed;
    lags.push(completed - completedUpstream);
    if (options.callbacks) fullTimeLags.push(completed - completedUpstream);
    else {
      const work = readOverheadMs(reads.map((read) => read.atMs), defaultOf('pollInterval') * 1000 * scale);
      const waited = Math.max(0, seen - completedUpstream - work);
      fullTimeLags.push(waited / scale + Math.min(work, seen - completedUpstream) + (completed - seen));
    }
    transitions.push(bench.gateway.stepFunctions.transitions(executions.get(task.id)!) ?? Number.NaN);
    polls.push(reads.length);
  }
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  const usage = Object.fromEntries(
    [...names].filter((name) => name !== 'other' && name !== 'Reconcile').map((name) => {
      const delta = usageBetween(before, after, name);
      return [name, Object.fromEntries(Object.entries(delta).map(([key, value]) => [key, Math.round((value / tasks.length) * 100) / 100]))];
    }),
  ) as unknown as Record<string, FunctionUsage>;
  return {
    callbacks: options.callbacks,
    generations: tasks.length,
    time_scale: scale,
    generation_seconds: QUEUED_SECONDS + DREAMING_SECONDS,
    completion_lag_ms: spread(lags),
    completion_lag_full_time_ms: spread(fullTimeLags),
    transitions_per_generation: spread(transitions),
    upstream_polls_per_generation: spread(polls),
    usage_per_generation: usage,
  };
}

/** Creates `count` tasks at once and waits until every one has completed (reading the table, not the API). */
async function runBatch(bench: BenchGateway, count: number, what: string): Promise<Task[]> {
  const ids = await Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const { status, body } = await bench.client.create({ user_prompt: `bench ${what} generation ${index + 1}: a lighthouse at dusk` });
      if (status !== 200) throw new Error(`POST answered ${status}: ${JSON.stringify(body)}`);
      return (body as { id: string }).id;
    }),
  );
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    const tasks = await Promise.all(ids.map((id) => bench.tasks.get(id)));
    const failed = tasks.find((task) => task?.status === 'failed');
    if (failed) throw new Error(`Task ${failed.id} failed: ${failed.failure?.reason}`);
    if (tasks.every((task) => task?.status === 'completed')) return tasks as Task[];
    if (Date.now() > deadline) throw new Error(`The ${what} generations did not finish within 10 minutes.`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The real time from a wait's end to its read: the shortest gap between reads, less the shortest wait (real ms). */
function readOverheadMs(readsAtMs: number[], shortestWaitMs: number): number {
  let shortest = Infinity;
  for (let i = 1; i < readsAtMs.length; i++) shortest = Math.min(shortest, readsAtMs[i]! - readsAtMs[i - 1]!);
  return Number.isFinite(shortest) ? Math.max(0, shortest - shortestWaitMs) : 0;
}

export function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (fraction: number) => sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)] ?? Number.NaN;
  const round = (value: number) => Math.round(value * 10) / 10;
  return { p50: round(median(values)), p95: round(at(0.95)), max: round(sorted.at(-1) ?? Number.NaN) };
}
