/**
 * What every scenario of `npm run chaos` (scripts/chaos.ts, scripts/chaos/fair-share.ts) shares: a run's
 * temp dir and logs, an in-process gateway's lifetime, the checks every scenario makes (nothing lost,
 * nothing stuck, no slot held afterwards, one upstream generation per prompt), and a bounded seed-API client.
 */
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { startLocalGateway, type LocalGateway, type LocalGatewayOptions } from '../../local/gateway.ts';
import { LOCAL_REGION } from '../../local/local-aws.ts';
import { DynamoDbUpstreamCapacity } from '../../functions/commons/adapters/upstream-capacity.ts';
import { seedGenerationSchema } from '../../functions/commons/domain/seed-response.ts';

export const TABLE_NAME = 'luma-gateway';

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

// ---------------------------------------------------------------------------
// Checks shared by the scenarios
// ---------------------------------------------------------------------------

export interface Answer {
  status: number;
  body: any;
  headers?: Headers;
  error?: string;
}

/** The ids of the submits answered 200; every other answer is a lost task. */
export function acceptedIds(answers: Answer[], violations: string[]): string[] {
  const refused = answers.filter((answer) => answer.status !== 200 || typeof answer.body?.id !== 'string');
  if (refused.length > 0) {
    violations.push(
      `${refused.length} submits were not answered 200 with a task: ${refused.slice(0, 10).map((a) => `${a.status} ${describeAnswer(a)}`).join('; ')}`,
    );
  }
  return answers.filter((answer) => !refused.includes(answer)).map((answer) => answer.body.id as string);
}

export function describeAnswer(answer: Answer): string {
  if (answer.error) return answer.error;
  if (answer.status === 200) return `id ${answer.body?.id}`;
  return JSON.stringify(answer.body).slice(0, 300);
}

export interface Waited {
  /** The terminal answer of each task that reached one. */
  final: Map<string, any>;
  /** Tasks still not terminal when the bound ran out, with the last state seen. */
  stuck: { id: string; state: string; message?: string }[];
  notFound: string[];
  /** GETs that failed or answered other than 200/404, and answers off the published schema. */
  errors: string[];
}

/** Polls every unfinished task, a few at a time, until all are terminal or `boundMs` has passed. */
export async function waitAllTerminal(api: Api, ids: string[], boundMs: number): Promise<Waited> {
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

export function reportWaitProblems(waited: Waited, violations: string[]): void {
  if (waited.notFound.length > 0) violations.push(`${waited.notFound.length} accepted tasks answered 404: ${waited.notFound.slice(0, 10).join(', ')}`);
  if (waited.stuck.length > 0) {
    violations.push(
      `${waited.stuck.length} tasks never became terminal: ${waited.stuck.slice(0, 10).map((s) => `${s.id} ${s.state} (${s.message})`).join('; ')}`,
    );
  }
  if (waited.errors.length > 0) violations.push(`${waited.errors.length} GETs went wrong: ${waited.errors.slice(0, 5).join('; ')}`);
}

/** Each prompt must appear in exactly one upstream generation. */
export function checkOnePerPrompt(
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
export async function checkSlots(gateway: LocalGateway, maxConcurrent: number, violations: string[]): Promise<number> {
  const idle = await waitUntil(async () => (gateway.stepFunctions.listExecutions('RUNNING').length === 0 ? true : undefined), 30_000);
  if (!idle) {
    const running = gateway.stepFunctions.listExecutions('RUNNING');
    violations.push(`${running.length} executions still RUNNING after every task was terminal: ${running.slice(0, 5).map((e) => e.name).join(', ')}`);
  }
  const client = new DynamoDBClient({ endpoint: gateway.dynamoDbEndpoint, region: LOCAL_REGION, credentials: gateway.credentials });
  try {
    const capacity = new DynamoDbUpstreamCapacity(DynamoDBDocumentClient.from(client), TABLE_NAME, { maxConcurrent, maxCreatesPerMinute: 1 });
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
// Small helpers
// ---------------------------------------------------------------------------

/** The seed API over fetch, every request bounded in time; a transport error is an answer with status 0. */
export class Api {
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

export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
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
export async function waitUntil<T>(probe: () => Promise<T | undefined>, ms: number): Promise<T | undefined> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= until) return undefined;
    await sleep(100);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

export function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}

export function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

export function formatCounts(counts: Record<string, number>): string {
  return Object.entries(counts).map(([key, value]) => `${key} ${value}`).join(', ') || 'none';
}
