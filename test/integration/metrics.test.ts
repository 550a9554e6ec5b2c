/**
 * The gateway's metrics as the local runtime shows them: Powertools writes them in CloudWatch's embedded
 * metric format, one JSON line on the function's stdout per invocation, which CloudWatch Logs would turn into
 * metrics. A generation run through the local gateway must leave the lines the dashboard and alarms read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalGateway, type LocalGateway } from '../../local/gateway.ts';
import { ApiTestClient } from '../support/client.ts';
import { eventually } from '../support/eventually.ts';
import { ROOMY_DEADLINE_SECONDS, TEST_TIME_SCALE } from '../support/time.ts';
import { FAILURE_CODE_DIMENSION, GATEWAY_METRICS, METRICS_NAMESPACE } from '../../functions/commons/observability/names.ts';

interface EmfLine {
  _aws: { Timestamp: number; CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  [field: string]: unknown;
}

let dataDir: string;
let gateway: LocalGateway;
let captured = '';

/** Every complete JSON line the functions wrote so far. */
function lines(): Record<string, unknown>[] {
  return captured
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return []; // a line still arriving
      }
    });
}

/** The embedded-metric lines that publish `name`. */
function metricLines(name: string): EmfLine[] {
  return lines().filter((line): line is EmfLine =>
    Boolean((line as Partial<EmfLine>)._aws?.CloudWatchMetrics.some((directive) => directive.Metrics.some((metric) => metric.Name === name))),
  );
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'metrics-it-'));
  gateway = await startLocalGateway({
    dataDir,
    port: 0,
    apiKeys: ['metrics-key-0123456789abcdef'],
    timeScale: TEST_TIME_SCALE,
    generationTimeoutSeconds: ROOMY_DEADLINE_SECONDS,
    log: () => undefined,
    functionLogs: (chunk) => (captured += chunk),
  });
});

afterAll(async () => {
  await gateway?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('metrics of a local run', () => {
  it('a completed generation publishes accepted, submitted, upstream generation time, copy throughput and completed', async () => {
    const client = new ApiTestClient(gateway.url, gateway.apiKeys[0]!);
    const created = await client.create({ user_prompt: 'A lighthouse at dusk, waves rolling in' });
    expect(created.status).toBe(200);
    expect((await client.waitForTerminal(created.body.id)).state).toBe('completed');
    await eventually(() => metricLines(GATEWAY_METRICS.completed.name).length > 0, 'a line publishing completed');

    const [completed] = metricLines(GATEWAY_METRICS.completed.name);
    const directive = completed!._aws.CloudWatchMetrics[0]!;
    expect(directive.Namespace).toBe(METRICS_NAMESPACE);
    expect(directive.Dimensions).toEqual([['service']]);
    // The stack's name: what the dashboard and the alarms select by.
    expect(completed!.service).toBe('LumaVideoGateway');
    expect(completed![GATEWAY_METRICS.completed.name]).toBe(1);
    expect(directive.Metrics).toContainEqual({ Name: GATEWAY_METRICS.copyThroughput.name, Unit: 'Megabytes/Second' });
    expect(completed![GATEWAY_METRICS.copyThroughput.name]).toBeGreaterThan(0);

    for (const metric of [GATEWAY_METRICS.accepted, GATEWAY_METRICS.submitted, GATEWAY_METRICS.upstreamGenerationTime]) {
      expect(metricLines(metric.name), metric.name).not.toEqual([]);
    }
    // Each log line of the copy carries the task id as its correlation id.
    const copied = lines().find((line) => line.message === 'copied');
    expect(copied).toMatchObject({ level: 'INFO', correlation_id: created.body.id, taskId: created.body.id });
  });

  it('a failed generation publishes failed, once alone and once with its failure code', async () => {
    const client = new ApiTestClient(gateway.url, gateway.apiKeys[0]!);
    const created = await client.create({ user_prompt: 'A generation that fails [sim:fail]' });
    expect(created.status).toBe(200);
    const done = await client.waitForTerminal(created.body.id);
    expect(done.failure_code).toBe('moderation');
    await eventually(() => metricLines(GATEWAY_METRICS.failed.name).length >= 2, 'two lines publishing failed');

    const failed = metricLines(GATEWAY_METRICS.failed.name);
    const byCode = failed.find((line) => line[FAILURE_CODE_DIMENSION] === 'moderation');
    expect(byCode?._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service', FAILURE_CODE_DIMENSION]]);
    expect(failed.some((line) => line._aws.CloudWatchMetrics[0]!.Dimensions.length === 1 && line[FAILURE_CODE_DIMENSION] === undefined)).toBe(true);
  });
});
