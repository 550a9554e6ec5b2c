/**
 * `npm run bench`: the gateway's performance, measured side by side in one run on the local runtime
 * (loopback only), written to bench/results.json and printed as a table beside the targets:
 *
 * - init_ms and bundle_kb per function, and init_ratio against a bundle holding only the DynamoDB client
 *   (scripts/bench/init.ts);
 * - completion lag, state transitions and upstream polls per "3-minute" generation, with the upstream's
 *   callbacks and without (scripts/bench/generations.ts);
 * - the API's latency and throughput for POST and GET under load (scripts/bench/api-load.ts);
 * - the copy of a 50 MB and a 500 MB video: time against a plain download, and peak RSS (scripts/bench/copy.ts);
 * - what 1,000 generations cost in AWS, from the measured usage (scripts/bench/cost.ts).
 *
 *   npm run bench [-- --generations 6 --time-scale 0.2 --api-seconds 10 --init-runs 7 --copy-sizes 50,500 --copy-rounds 3]
 *
 * A bench is not a test: it asserts nothing, and its figures are this machine's at this moment.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { synthesizedFunctions } from './bench/app.ts';
import { measureInit } from './bench/init.ts';
import { benchGateway, measureGenerations, type GenerationFigures } from './bench/generations.ts';
import { load, type LoadFigures } from './bench/api-load.ts';
import { measureCopy } from './bench/copy.ts';
import { costPer1000 } from './bench/cost.ts';
import { printTable } from './bench/report.ts';

const { values } = parseArgs({
  options: {
    generations: { type: 'string', default: '6' },
    'time-scale': { type: 'string', default: '0.2' },
    'api-seconds': { type: 'string', default: '10' },
    'init-runs': { type: 'string', default: '7' },
    'copy-sizes': { type: 'string', default: '50,500' },
    'copy-rounds': { type: 'string', default: '3' },
    out: { type: 'string', default: 'bench/results.json' },
  },
});
const count = positive('generations', Number(values.generations));
const timeScale = positive('time-scale', Number(values['time-scale']));
const apiSeconds = positive('api-seconds', Number(values['api-seconds']));
const initRuns = positive('init-runs', Number(values['init-runs']));
const copySizes = values['copy-sizes']!.split(',').map((size) => positive('copy-sizes', Number(size)));
const copyRounds = positive('copy-rounds', Number(values['copy-rounds']));

const log = (line: string) => console.log(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${line}`);
const started = performance.now();
const workDir = mkdtempSync(join(tmpdir(), 'luma-bench-'));
try {
  log('synthesizing the app: every function bundled as it deploys');
  const functions = synthesizedFunctions(workDir);
  log(`cold imports, ${initRuns} rounds`);
  const init = await measureInit({ functions, workDir, runs: initRuns });

  const generations: Record<'with_callbacks' | 'without_callbacks', GenerationFigures> = {} as never;
  let api: { post: LoadFigures; get: LoadFigures } | undefined;
  for (const callbacks of [true, false]) {
    log(`generations ${callbacks ? 'with' : 'without'} callbacks: starting a local gateway (time scale ${timeScale})`);
    const bench = await benchGateway({ callbacks, timeScale, workDir });
    try {
      if (!callbacks) {
        // Adaptive polling learns the typical time from recent completions: a batch to learn from first.
        log('without callbacks: a batch of 4 for the schedule to learn the typical time from');
        await measureGenerations(bench, { callbacks, count: 4, timeScale });
      }
      log(`${count} generations at once ${callbacks ? 'with' : 'without'} callbacks (after one to warm up)`);
      generations[callbacks ? 'with_callbacks' : 'without_callbacks'] = await measureGenerations(bench, { callbacks, count, timeScale });
      if (!callbacks) api = await measureApi(bench, apiSeconds);
    } finally {
      await bench.close();
    }
  }

  log(`copies of ${copySizes.join(' and ')} MB`);
  const copy = await measureCopy({ copy: functions.Copy, workDir, sizesMb: copySizes, rounds: copyRounds, log });

  const memoryMb = Object.fromEntries(Object.entries(functions).map(([name, fn]) => [name, fn.memoryMb]));
  const costOf = (figures: GenerationFigures) =>
    costPer1000({ transitions: figures.transitions_per_generation.p50, functions: figures.usage_per_generation, memoryMb });
  const results = {
    measured_at: new Date().toISOString(),
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version, load_average: (await import('node:os')).loadavg() },
    options: { generations: count, time_scale: timeScale, api_seconds: apiSeconds, init_runs: initRuns, copy_sizes_mb: copySizes },
    duration_s: Math.round((performance.now() - started) / 1000),
    init,
    generations,
    api,
    copy,
    cost: { with_callbacks: costOf(generations.with_callbacks), without_callbacks: costOf(generations.without_callbacks) },
  };
  mkdirSync(join(values.out!, '..'), { recursive: true });
  writeFileSync(values.out!, `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${values.out}`);
  printTable(results);
} finally {
  rmSync(workDir, { recursive: true, force: true });
}

/** POST and GET under load, each for `seconds`, on the gateway that just ran generations without callbacks. */
async function measureApi(bench: Awaited<ReturnType<typeof benchGateway>>, seconds: number): Promise<{ post: LoadFigures; get: LoadFigures }> {
  const { gateway } = bench;
  const headers = { authorization: `Bearer ${gateway.apiKeys[0]}`, 'content-type': 'application/json' };
  const { body } = await bench.client.create({ user_prompt: 'bench: the task the GET load reads' });
  const id = (body as { id: string }).id;
  log(`API load: GET /luma/generations/{id}, ${seconds} s, 8 connections`);
  const get = await load({ url: `${gateway.url}/luma/generations/${id}`, method: 'GET', headers, expectStatus: 200, connections: 8, durationMs: seconds * 1000 });
  log(`API load: POST /luma/generations, ${seconds} s, 8 connections`);
  let n = 0;
  const post = await load({
    url: `${gateway.url}/luma/generations`,
    method: 'POST',
    headers,
    body: () => JSON.stringify({ user_prompt: `bench load ${++n}: a lighthouse at dusk` }),
    expectStatus: 200,
    connections: 8,
    durationMs: seconds * 1000,
  });
  return { post, get };
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number.`);
  return value;
}
