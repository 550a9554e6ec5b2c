/**
 * init_ms and bundle_kb per function: the very bundles `cdk synth` builds, each imported cold in a fresh
 * Node process with its deployed environment (NODE_OPTIONS included) pointed at a closed loopback port
 * (nothing is called: an import that calls out is a finding), the median of several runs; and the same for
 * a bundle that holds only the DynamoDB client, built in the same run with the same esbuild options, the
 * floor every function's init is compared with (init_ratio).
 *
 * init_ms is the CPU time (user + system) the import takes, which is what a cold start spends on a
 * dedicated vCPU; the wall time is recorded beside it, but on a machine shared with other work it mostly
 * measures the wait for a core.
 */
import { execFile } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { GATEWAY_BUNDLING } from '../../infra/constructs/gateway-function.ts';
import { LOCAL_REGION } from '../../local/local-aws.ts';
import type { FunctionName, SynthesizedFunction } from './app.ts';

const run = promisify(execFile);

export interface InitFigure {
  bundle_kb: number;
  /** CPU milliseconds of the cold import, median. */
  init_ms: number;
  /** Wall milliseconds of the same imports, median. */
  init_wall_ms: number;
  /**
   * The median, over the rounds, of this bundle's import ÷ the DynamoDB-only bundle's in the same round:
   * a burst of load on the shared machine falls on both imports of a round alike, and cancels out.
   */
  init_ratio: number;
  runs_ms: number[];
}

interface ImportRun {
  cpuMs: number;
  wallMs: number;
}

export interface InitFigures {
  baseline: Omit<InitFigure, 'init_ratio'>;
  functions: Record<string, InitFigure>;
}

export async function measureInit(options: {
  functions: Record<FunctionName, SynthesizedFunction>;
  workDir: string;
  runs: number;
}): Promise<InitFigures> {
  const baseline = await buildBaseline(options.workDir);
  const deployedNodeOptions = options.functions.Api.environment.NODE_OPTIONS ?? '';
  const targets: { name: string; bundle: string; env: Record<string, string> }[] = [
    { name: 'DynamoDbOnly', bundle: baseline, env: { NODE_OPTIONS: deployedNodeOptions } },
    ...Object.entries(options.functions).map(([name, fn]) => ({ name, bundle: fn.bundle, env: fn.environment })),
  ];
  // Interleaved rounds, so a burst of load on the shared machine falls on every function alike.
  const runs = new Map<string, ImportRun[]>(targets.map((target) => [target.name, []]));
  for (let round = 0; round < options.runs; round++) {
    for (const target of targets) runs.get(target.name)!.push(await coldImportMs(target.bundle, target.env));
  }
  const figure = (target: (typeof targets)[number]) => {
    const measured = runs.get(target.name)!;
    return {
      bundle_kb: Math.round(statSync(target.bundle).size / 1024),
      init_ms: round1(median(measured.map((one) => one.cpuMs))),
      init_wall_ms: round1(median(measured.map((one) => one.wallMs))),
      runs_ms: measured.map((one) => round1(one.cpuMs)),
    };
  };
  const base = figure(targets[0]!);
  const baseRuns = runs.get(targets[0]!.name)!;
  const functions: Record<string, InitFigure> = {};
  for (const target of targets.slice(1)) {
    const measured = figure(target);
    const ratios = runs.get(target.name)!.map((one, round) => one.cpuMs / baseRuns[round]!.cpuMs);
    functions[target.name] = { ...measured, init_ratio: Math.round(median(ratios) * 100) / 100 };
  }
  return { baseline: base, functions };
}

/** The floor: the DynamoDB client and nothing else, bundled as every function is. */
async function buildBaseline(workDir: string): Promise<string> {
  const entry = join(workDir, 'dynamodb-only.ts');
  writeFileSync(
    entry,
    "import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';\n" +
      'const client = new DynamoDBClient({});\n' +
      "export const handler = () => client.send(new GetItemCommand({ TableName: 't', Key: { pk: { S: 'k' } } }));\n",
  );
  const outfile = join(workDir, 'dynamodb-only', 'index.mjs');
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    nodePaths: [join(process.cwd(), 'node_modules')],
    absWorkingDir: process.cwd(),
    format: 'esm',
    target: GATEWAY_BUNDLING.target,
    minify: GATEWAY_BUNDLING.minify,
    keepNames: GATEWAY_BUNDLING.keepNames,
    sourcemap: GATEWAY_BUNDLING.sourceMap,
    sourcesContent: GATEWAY_BUNDLING.sourcesContent,
    mainFields: [...GATEWAY_BUNDLING.mainFields],
    banner: { js: GATEWAY_BUNDLING.banner },
    logLevel: 'warning',
  });
  return outfile;
}

/** One cold import in a fresh process: the module's load and its top-level code, as Lambda's init runs them. */
async function coldImportMs(bundle: string, env: Record<string, string>): Promise<ImportRun> {
  const script =
    'const c0 = process.cpuUsage(); const t0 = performance.now();' +
    `const m = await import(${JSON.stringify(pathToFileURL(bundle).href)});` +
    'const wall = performance.now() - t0; const cpu = process.cpuUsage(c0);' +
    "if (typeof m.handler !== 'function') throw new Error('no handler');" +
    'process.stdout.write(JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000, wallMs: wall }));';
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    env: {
      PATH: process.env.PATH ?? '',
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      AWS_EC2_METADATA_DISABLED: 'true',
      // A closed port: init must not call out, and if it does the import fails or shows it in its time.
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
      ...env,
    },
  });
  return JSON.parse(stdout) as ImportRun;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
