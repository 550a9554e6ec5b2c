/**
 * What every scenario of `npm run chaos` (scripts/chaos/*.ts) shares: a run's temp dir and logs, an
 * in-process gateway's lifetime, the scenario's deadline, reads of the task table, a bounded client of the
 * API, and small helpers. The checks they make are in invariants.ts.
 */
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { startLocalGateway, type LocalGateway, type LocalGatewayOptions } from '../../local/gateway.ts';
import { LOCAL_REGION, LOCAL_TABLE_NAME } from '../../local/local-aws.ts';
import { DynamoDbTaskStore } from '../../functions/commons/adapters/task-store.ts';
import type { Task } from '../../functions/commons/domain/task.ts';
import { GatewayClient, type ApiAnswer } from '../gateway-client.ts';
import { TimeScale } from '../../local/time-scale.ts';
import { defaultOf } from '../../functions/commons/settings/reader.ts';
import { mapLimit } from './util.ts';

export const TABLE_NAME = LOCAL_TABLE_NAME;
/** The simulated upstream's video: every completed task's stored video must be these bytes. */
export const SAMPLE_MP4 = fileURLToPath(new URL('../../local/assets/sample.mp4', import.meta.url));

export type ScenarioName = 'burst' | 'chaos' | 'restart' | 'idempotency' | 'fair' | 'queue';
export const SCENARIOS: readonly ScenarioName[] = ['burst', 'chaos', 'restart', 'idempotency', 'fair', 'queue'];

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

// ---------------------------------------------------------------------------
// Running a scenario: temp dirs, logs, the gateway's lifetime
// ---------------------------------------------------------------------------

export interface Run {
  scenario: ScenarioName;
  /** Short random id, in every prompt, so prompts are unique across runs. */
  id: string;
  dir: string;
  dataDir: string;
  violations: string[];
}

export function newRun(scenario: ScenarioName): Run {
  const dir = mkdtempSync(join(tmpdir(), `chaos-${scenario}-`));
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  return { scenario, id: randomBytes(4).toString('hex'), dir, dataDir, violations: [] };
}

export function finishRun<T extends Omit<ScenarioReport, 'violations' | 'keptDir'>>(run: Run, options: CommonOptions, report: T): T & ScenarioReport {
  const keep = options.keepAlways === true || (run.violations.length > 0 && (options.keepOnFailure ?? true));
  if (!keep) rmSync(run.dir, { recursive: true, force: true });
  return { ...report, violations: run.violations, ...(keep && { keptDir: run.dir }) };
}

export type InProcessSettings = Pick<LocalGatewayOptions, 'timeScale' | 'capacity' | 'generationTimeoutSeconds' | 'keyLimits' | 'simulator'> & {
  /** How many client keys (each its own owner) the gateway gets. @default 1 */
  keys?: number;
};

/**
 * The default per-key limits queue a burst rather than refuse it (1000 queued, 600 creates a minute):
 * only a scenario larger than that needs them raised.
 */
export function liftedKeyLimits(tasks: number): { maxQueued: number; ratePerMinute: number } {
  return { maxQueued: Math.max(1000, tasks + 10), ratePerMinute: Math.max(600, 2 * tasks + 30) };
}

/**
 * The load comes from one key on one address, far over what one client may send at the edge (the web ACL) and
 * over the stage's throttle: the scenarios prove the gateway behind them, so those limits are lifted.
 */
export const LIFTED_EDGE_LIMITS = { requestsPerKey: 2_000_000_000, requestsPerAddress: 2_000_000_000, rateLimit: 1_000_000, burstLimit: 1_000_000 };

/** Starts a gateway in this process with its logs in files, runs `body`, closes it, and tidies up. */
export async function withInProcessGateway<T extends Omit<ScenarioReport, 'violations' | 'keptDir' | 'scenario'>>(
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
  const { keys = 1, ...gatewaySettings } = settings;
  try {
    gateway = await startLocalGateway({
      dataDir: run.dataDir,
      port: 0,
      apiKeys: Array.from({ length: keys }, () => `chaos-${randomBytes(12).toString('hex')}`),
      edgeLimits: LIFTED_EDGE_LIMITS,
      ...gatewaySettings,
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
export function reconcilerRepairs(logFile: string): string {
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

export function endStream(stream: WriteStream): Promise<void> {
  return new Promise((done) => stream.end(() => done()));
}

/** The deployed default deadline of a generation, in unscaled seconds. */
/** The gateway's own default deadline (the settings catalogue's). */
const DEFAULT_DEADLINE_SECONDS = defaultOf('generationTimeout');
/**
 * However far time is scaled down, a scenario's deadline is at least this much real time: the functions and
 * emulators do their work at real speed, and a busy machine must not turn a scaled deadline into a
 * deadline_exceeded that no scenario expects.
 */
const MIN_REAL_DEADLINE_SECONDS = 300;

/** A scenario's generation deadline (scaled seconds): the deployed one, what the queue needs, and the real-time floor. */
export function scenarioDeadline(timeScale: number, queueSeconds: number): number {
  return Math.max(DEFAULT_DEADLINE_SECONDS, queueSeconds, Math.ceil(new TimeScale(timeScale).gatewaySeconds(MIN_REAL_DEADLINE_SECONDS)));
}

/** The script's own reads of the task table (counted as `other`, apart from the functions'). */
export async function withTaskStore<T>(gateway: LocalGateway, body: (tasks: DynamoDbTaskStore) => Promise<T>): Promise<T> {
  const client = new DynamoDBClient({ endpoint: gateway.dynamoDbEndpoint, region: LOCAL_REGION, credentials: gateway.credentials });
  try {
    return await body(new DynamoDbTaskStore(DynamoDBDocumentClient.from(client), TABLE_NAME));
  } finally {
    client.destroy();
  }
}

export async function readTasks(tasks: DynamoDbTaskStore, ids: string[]): Promise<Task[]> {
  const found = await mapLimit(ids, 16, (id) => tasks.get(id));
  return found.filter((task): task is Task => task !== undefined);
}

// ---------------------------------------------------------------------------
// The API's client
// ---------------------------------------------------------------------------

export type Answer = ApiAnswer;

/** The gateway's client as the scenarios use it: every request bounded in time, a transport error an answer with status 0. */
export class Api extends GatewayClient {
  constructor(baseUrl: string, apiKey: string) {
    super(baseUrl, apiKey, { timeoutMs: 60_000 });
  }

  override async request<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer<T>> {
    try {
      return await super.request<T>(method, path, body, headers);
    } catch (error) {
      return { status: 0, body: undefined as T, headers: new Headers(), error: `${(error as Error).name}: ${(error as Error).message}` };
    }
  }
}
