/**
 * How long a function's bundle takes to import in a fresh Node process: the part of a Lambda cold start
 * that our code decides. Each handler is bundled the way GatewayFunction bundles it (esbuild, ESM, minified,
 * the SDK inside), next to a bundle that holds only the DynamoDB document client, the floor any function
 * that reads a task pays. Each bundle is imported `--runs` times (default 7), each in its own process, and
 * the median is printed.
 *
 * With `--compare <checkout>`, the same handlers of another checkout (with its own node_modules) are
 * bundled and measured in the same rounds, `<name>@other`: a before/after on one busy machine. With
 * `--splitting`, each bundle (the baseline too) is also built with esbuild's code splitting, `<name>+split`:
 * the entry and the chunks it imports at once, the chunks behind a dynamic `import()` left for later.
 *
 *   npx tsx scripts/cold-import.ts [--runs 7] [--compare ../main] [--splitting] [api poll copy record-failure reconcile]
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GATEWAY_BUNDLING } from '../infra/constructs/gateway-function.ts';

const FUNCTIONS_DIR = fileURLToPath(new URL('../functions/', import.meta.url));

/** What every handler reads at module scope; values that parse, pointing nowhere (nothing is called). */
const ENVIRONMENT: Record<string, string> = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'example',
  TABLE_NAME: 'tasks',
  BUCKET_NAME: 'videos',
  STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:123456789012:stateMachine:gateway-generation',
  WEBHOOK_STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:123456789012:stateMachine:gateway-webhook-delivery',
  EVENT_BUS_NAME: 'gateway-events',
  LUMA_API_KEY_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:luma-AbCdEf',
  PUBLIC_BASE_URL: 'https://example.execute-api.us-east-1.amazonaws.com/prod',
  GENERATION_TIMEOUT_SECONDS: '1800',
  ASSET_HOST_ALLOWLIST: '*.cdn-luma.com',
  DOWNLOAD_TIMEOUT_MS: '840000',
};

/** The bundling options of infra/constructs/gateway-function.ts (GATEWAY_BUNDLING; no source maps: nothing here reads them). */
async function bundle(entry: string, outfile: string, splitting = false): Promise<void> {
  await build({
    entryPoints: splitting ? { index: entry } : [entry],
    ...(splitting ? { outdir: dirname(outfile), splitting: true, outExtension: { '.js': '.mjs' } } : { outfile }),
    // The baseline's entry lives in a temp dir: its packages are this project's.
    nodePaths: [fileURLToPath(new URL('../node_modules', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: GATEWAY_BUNDLING.target,
    minify: GATEWAY_BUNDLING.minify,
    keepNames: GATEWAY_BUNDLING.keepNames,
    mainFields: [...GATEWAY_BUNDLING.mainFields],
    logLevel: 'warning',
    banner: { js: GATEWAY_BUNDLING.banner },
  });
}

/**
 * Milliseconds from the start of the import to its end, in a fresh process: wall time, and the CPU time the
 * process spent meanwhile (steadier on a shared, busy machine, where wall time also counts waiting for a core).
 */
function importMs(file: string): { wall: number; cpu: number } {
  const script =
    `const t = performance.now(), c = process.cpuUsage(); await import(${JSON.stringify(file)}); ` +
    `const u = process.cpuUsage(c); console.log(JSON.stringify({ wall: performance.now() - t, cpu: (u.user + u.system) / 1000 }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, ...ENVIRONMENT },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'], // the SDK's Node version warning
  });
  return JSON.parse(out.trim().split('\n').pop()!) as { wall: number; cpu: number };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export interface ColdImport {
  name: string;
  /** Median wall time of the import, and median CPU time, in milliseconds. */
  wallMs: number;
  cpuMs: number;
  bytes: number;
}

export async function measureColdImports(names: string[], runs: number, compare?: string, splitting = false): Promise<ColdImport[]> {
  const dir = mkdtempSync(join(tmpdir(), 'cold-import-'));
  try {
    const baseline = join(dir, 'dynamodb-only.ts');
    writeFileSync(
      baseline,
      `import { DynamoDBClient } from '@aws-sdk/client-dynamodb';\nimport { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';\n` +
        `export const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient({}));\n`,
    );
    const entries: [string, string][] = [['dynamodb-only', baseline], ...names.map((name): [string, string] => [name, `${FUNCTIONS_DIR}${name}/handler.ts`])];
    if (compare) entries.push(...names.map((name): [string, string] => [`${name}@other`, join(compare, 'functions', name, 'handler.ts')]));
    if (splitting) entries.push(...entries.map(([name, entry]): [string, string] => [`${name}+split`, entry]));
    // A split bundle is a folder: its entry, index.mjs, and its chunks (its size here is the entry's alone).
    const files = entries.map(([name]) => (name.endsWith('+split') ? join(dir, name, 'index.mjs') : join(dir, `${name}.mjs`)));
    for (const [index, [name, entry]] of entries.entries()) {
      await bundle(entry, files[index]!, name.endsWith('+split'));
      importMs(files[index]!); // warms the file cache, as a Lambda's code is on local disk
    }
    // Round robin, so that a busy moment of a shared machine weighs on every bundle alike.
    const times: { wall: number; cpu: number }[][] = files.map(() => []);
    for (let run = 0; run < runs; run++) files.forEach((file, index) => times[index]!.push(importMs(file)));
    const results = entries.map(([name], index) => ({
      name,
      wallMs: median(times[index]!.map((time) => time.wall)),
      cpuMs: median(times[index]!.map((time) => time.cpu)),
      bytes: statSync(files[index]!).size,
    }));
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    options: { runs: { type: 'string', default: '7' }, compare: { type: 'string' }, splitting: { type: 'boolean', default: false } },
    allowPositionals: true,
  });
  const results = await measureColdImports(positionals.length ? positionals : ['api'], Number(values.runs), values.compare && resolvePath(values.compare), values.splitting);
  const [floor] = results;
  console.log(`median of ${values.runs} imports, each in a fresh process; ×: against the bundle of the DynamoDB client alone`);
  for (const { name, wallMs, cpuMs, bytes } of results) {
    console.log(
      `${name.padEnd(20)} wall ${wallMs.toFixed(0).padStart(4)} ms (${(wallMs / floor!.wallMs).toFixed(2)}×)  ` +
        `cpu ${cpuMs.toFixed(0).padStart(4)} ms (${(cpuMs / floor!.cpuMs).toFixed(2)}×)  ${(bytes / 1024).toFixed(0).padStart(5)} KiB`,
    );
  }
}
