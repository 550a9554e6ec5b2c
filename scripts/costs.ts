/**
 * What 1,000 generations cost in AWS, from a local run: the gateway runs on this machine (`npm start`'s
 * runtime, the simulated upstream: 10 s queued, 60 s generating, like a short Luma generation), a batch of
 * generations goes through it, and what they used is counted where the local runtime stands between the
 * pieces (local/usage.ts, the local Step Functions): Lambda invocations and their durations, state
 * transitions, DynamoDB reads and writes, S3 requests, the bytes the functions logged. The counts are then
 * priced at the us-east-1 list prices below. Client GETs and the reconciler are priced apart: the first
 * depends on how often a client asks, the second runs on its schedule whatever the load.
 *
 * Time runs at its real pace by default: a poll round is a 10 s wait plus the Poll's own run, and a scaled
 * wait (0.1 s at 0.01) would leave the Poll's run (real time) to stretch every round, and count too few.
 *
 *   npx tsx scripts/costs.ts [--tasks 20] [--time-scale 1]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { startLocalGateway } from '../local/gateway.ts';
import { usageBetween, type FunctionUsage } from '../local/usage.ts';
import { LOCAL_REGION, LOCAL_TABLE_NAME } from '../local/local-aws.ts';
import { DynamoDbTaskStore } from '../functions/commons/adapters/task-store.ts';
import { isTerminal } from '../functions/commons/domain/task.ts';

/** us-east-1 list prices (USD), November 2026. */
export const PRICES = {
  /** Lambda, arm64: per request, and per GB-second. */
  lambdaRequest: 0.2 / 1e6,
  lambdaGbSecond: 0.0000133334,
  /** Step Functions standard workflows: per state transition. */
  stateTransition: 0.025 / 1000,
  /** DynamoDB on-demand: per write request unit (1 KB) and per read request unit (4 KB, strongly consistent). */
  dynamoWriteUnit: 0.625 / 1e6,
  dynamoReadUnit: 0.125 / 1e6,
  /** S3 Standard: PUT, COPY, POST, LIST requests; GET and the others; a GB stored for a month. */
  s3Write: 0.005 / 1000,
  s3Read: 0.0004 / 1000,
  s3GbMonth: 0.023,
  /** CloudWatch Logs: a GB ingested (function logs and the state machine's vended logs alike), a GB stored a month. */
  logsGbIngested: 0.5,
  logsGbMonth: 0.03,
  /** CloudWatch: a custom metric a month (the first 10,000), an alarm's metric a month, a dashboard a month (beyond 3). */
  metricMonth: 0.3,
  alarmMetricMonth: 0.1,
  dashboardMonth: 3,
} as const;

/** Memory of each function (infra: GatewayFunction's default 256 MB; the API 512, the copy 1024). */
const MEMORY_MB: Record<string, number> = { Api: 512, Poll: 256, Copy: 1024, RecordFailure: 256, Reconcile: 256 };
/** A 5 s 720p generation from Luma is a few MB: what each stored video is priced at (the simulator's is 36 KB). */
const VIDEO_MB = 5;
/**
 * The state machine logs every event (level ALL, without execution data): about two events per transition,
 * a few hundred bytes each. Not measured locally (the local Step Functions writes no CloudWatch lines).
 */
const STATE_MACHINE_LOG_BYTES_PER_TRANSITION = 2 * 350;

export interface CostReport {
  tasks: number;
  completed: number;
  seconds: number;
  usage: FunctionUsage;
  byFunction: Record<string, FunctionUsage>;
  transitions: number;
  logBytes: number;
  /** The reconciler's runs since the start, and their mean duration (ms). */
  reconcile: { runs: number; msPerRun: number };
  /** USD per 1,000 generations, by service. */
  per1000: Record<string, number>;
}

export async function measureCosts(tasks: number, timeScale: number): Promise<CostReport> {
  const dataDir = mkdtempSync(join(tmpdir(), 'costs-'));
  let logBytes = 0;
  const gateway = await startLocalGateway({
    dataDir,
    port: 0,
    apiKeys: ['costs-key-0123456789abcdef'],
    timeScale,
    // Every task upstream at once: the run then lasts one generation, and the queue (which costs nothing) is not measured.
    capacity: { maxConcurrent: tasks, maxCreatesPerMinute: tasks },
    log: () => undefined,
    functionLogs: (chunk) => (logBytes += Buffer.byteLength(chunk)),
  });
  const client = new DynamoDBClient({ endpoint: gateway.dynamoDbEndpoint, region: LOCAL_REGION, credentials: gateway.credentials });
  try {
    const store = new DynamoDbTaskStore(DynamoDBDocumentClient.from(client), LOCAL_TABLE_NAME);
    // Wait for the reconciler's first run, so that it is not counted with the generations.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const before = gateway.usage.snapshot();
    const transitionsBefore = gateway.stepFunctions.stateTransitions;
    const logsBefore = logBytes;
    const started = performance.now();
    const ids: string[] = [];
    for (let index = 0; index < tasks; index++) {
      const answer = await fetch(`${gateway.url}/luma/generations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${gateway.apiKeys[0]}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user_prompt: `A lighthouse at dusk, waves rolling in, take ${index}` }),
      });
      if (answer.status !== 200) throw new Error(`POST answered ${answer.status}: ${await answer.text()}`);
      ids.push(((await answer.json()) as { id: string }).id);
    }
    // Read from the table (counted as `other`), not with GETs, which would count as the API's.
    let finished: Awaited<ReturnType<typeof store.get>>[] = [];
    for (;;) {
      finished = await Promise.all(ids.map((id) => store.get(id)));
      if (finished.every((task) => task && isTerminal(task.status))) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // the last executions' final states, the last log lines
    const after = gateway.usage.snapshot();
    const functions = Object.keys(MEMORY_MB).filter((name) => name !== 'Reconcile');
    const byFunction = Object.fromEntries(functions.map((name) => [name, usageBetween(before, after, name)]));
    const usage = functions.reduce((total, name) => addUsage(total, byFunction[name]!), usageBetween({}, {}));
    const transitions = gateway.stepFunctions.stateTransitions - transitionsBefore;
    const generationLogBytes = logBytes - logsBefore;
    const scale = 1000 / tasks;
    const gbSeconds = functions.reduce((sum, name) => sum + (byFunction[name]!.durationMs / 1000) * (MEMORY_MB[name]! / 1024), 0);
    const logGb = (generationLogBytes + transitions * STATE_MACHINE_LOG_BYTES_PER_TRANSITION) / 1024 ** 3;
    const per1000 = {
      Lambda: scale * (usage.invocations * PRICES.lambdaRequest + gbSeconds * PRICES.lambdaGbSecond),
      'Step Functions': scale * transitions * PRICES.stateTransition,
      DynamoDB: scale * (usage.writeUnits * PRICES.dynamoWriteUnit + usage.itemsRead * PRICES.dynamoReadUnit),
      'S3 (requests, and a month of storage)': scale * (usage.s3Writes * PRICES.s3Write + usage.s3Reads * PRICES.s3Read) + (1000 * VIDEO_MB * PRICES.s3GbMonth) / 1024,
      'CloudWatch Logs (ingested, kept a month)': scale * logGb * (PRICES.logsGbIngested + PRICES.logsGbMonth),
    };
    return {
      tasks,
      completed: finished.filter((task) => task?.status === 'completed').length,
      seconds: (performance.now() - started) / 1000,
      usage,
      byFunction,
      transitions,
      logBytes: generationLogBytes,
      reconcile: (() => {
        // Its runs since the gateway started, the first (at start) included.
        const runs = usageBetween({}, after, 'Reconcile');
        return { runs: runs.invocations, msPerRun: runs.durationMs / Math.max(runs.invocations, 1) };
      })(),
      per1000,
    };
  } finally {
    client.destroy();
    await gateway.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function addUsage(a: FunctionUsage, b: FunctionUsage): FunctionUsage {
  return Object.fromEntries(Object.keys(a).map((key) => [key, a[key as keyof FunctionUsage] + b[key as keyof FunctionUsage]])) as unknown as FunctionUsage;
}

/**
 * What the stack costs a month whatever the load (CloudWatch's custom metrics, alarms and dashboard, and the
 * reconciler's runs), from the catalogue of metrics and the alarms the stack defines.
 */
export function fixedMonthly(reconcileMsPerRun: number): Record<string, number> {
  // 13 catalogued metrics, 8 failure codes of `failed`; alarm metrics: failed rate 2, overdue 1, timed out 2,
  // faults 2, throttles 5, errors 5 × 2, 429s 1.
  const metrics = 13 + 8;
  const alarmMetrics = 2 + 1 + 2 + 2 + 5 + 10 + 1;
  const runs = (30 * 24 * 60) / 5;
  return {
    'CloudWatch metrics': metrics * PRICES.metricMonth,
    'CloudWatch alarms': alarmMetrics * PRICES.alarmMetricMonth,
    'CloudWatch dashboard': PRICES.dashboardMonth,
    'Reconciler (Lambda, every 5 minutes)': runs * (PRICES.lambdaRequest + (reconcileMsPerRun / 1000) * (MEMORY_MB.Reconcile! / 1024) * PRICES.lambdaGbSecond),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { tasks: { type: 'string', default: '20' }, 'time-scale': { type: 'string', default: '1' } } });
  const report = await measureCosts(Number(values.tasks), Number(values['time-scale']));
  const per = (value: number) => (value / report.tasks).toFixed(2);
  console.log(`${report.tasks} generations (${report.completed} completed) in ${report.seconds.toFixed(1)} s at time scale ${values['time-scale']}`);
  console.log(`per generation: ${per(report.usage.invocations)} Lambda invocations, ${per(report.transitions)} state transitions, ` +
    `${per(report.usage.writeUnits)} DynamoDB write units (${per(report.usage.writeRequests)} writes), ${per(report.usage.itemsRead)} items read (${per(report.usage.readRequests)} reads), ` +
    `${per(report.usage.s3Writes)} S3 PUT/POST, ${per(report.usage.s3Reads)} S3 GET, ${(report.logBytes / report.tasks / 1024).toFixed(1)} KiB of function logs`);
  for (const [name, usage] of Object.entries(report.byFunction)) {
    console.log(`  ${name.padEnd(14)} ${per(usage.invocations)} invocations, ${(usage.durationMs / Math.max(usage.invocations, 1)).toFixed(0)} ms each (local)`);
  }
  let total = 0;
  console.log('\nUSD per 1,000 generations (us-east-1):');
  for (const [service, usd] of Object.entries(report.per1000)) {
    total += usd;
    console.log(`  ${service.padEnd(42)} ${usd.toFixed(4)}`);
  }
  console.log(`  ${'total'.padEnd(42)} ${total.toFixed(4)}`);
  console.log(`\nUSD a month, whatever the load (reconciler: ${report.reconcile.runs} runs, ${report.reconcile.msPerRun.toFixed(0)} ms each, local):`);
  for (const [item, usd] of Object.entries(fixedMonthly(report.reconcile.msPerRun))) console.log(`  ${item.padEnd(42)} ${usd.toFixed(2)}`);
}
