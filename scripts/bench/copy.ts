/**
 * copy_ratio and copy_peak_rss_mb: the Copy function's very bundle copies a 50 MB and a 500 MB video from
 * a loopback host into the local bucket, in a process of its own (so its peak RSS is its own), beside two
 * references over the same bytes: a plain download (read and discard), and a plain transfer (the same
 * download streamed into the same bucket with the same multipart settings, without the copy's checks).
 * The video is an MP4 of the given size: the sample's ftyp and moov, then an mdat of zeros, served as it
 * is generated, so no file of that size exists but in the bucket.
 *
 * The copy and the transfer run in alternating order, `rounds` times each (the median is kept), and each
 * object is deleted once written: whichever of two runs comes second writes while the first one's 500 MB
 * are still being flushed to disk, which once made the copy (always second) look 1.65× the transfer.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbTaskStore } from '../../functions/commons/adapters/task-store.ts';
import { UPLOAD_PART_BYTES, UPLOAD_QUEUE } from '../../functions/commons/adapters/media-store.ts';
import { newTask, type Task } from '../../functions/commons/domain/task.ts';
import { startDynamoDb, startS3, type Emulator } from '../../local/emulators.ts';
import { LOCAL_REGION, localCredentials, type LocalCredentials } from '../../local/local-aws.ts';
import { listenOnLoopback, closeServer } from '../../local/loopback-http.ts';
import { ensurePrivateDir } from '../../local/private-files.ts';
import type { SynthesizedFunction } from './app.ts';
import { median } from './init.ts';

const run = promisify(execFile);
const MB = 1_000_000;
const TABLE = 'bench-copy';
const BUCKET = 'bench-copy';
const ASSETS = new URL('../../local/assets/', import.meta.url);

export interface CopyRun {
  ms: number;
  peak_rss_mb: number;
}

export interface CopyFigures {
  sizes_mb: number[];
  /** Per size: the copy, a plain download, a plain transfer into the bucket (medians of the rounds; the copy's RSS their peak). */
  runs: Record<string, { copy: CopyRun; download: CopyRun; transfer: CopyRun }>;
  /** Copies and transfers per size, in alternating order. */
  rounds: number;
  /** Per size: the copy's time ÷ the plain download's. */
  copy_ratio: Record<string, number>;
  /** Per size: the copy's time ÷ the plain transfer's: what the copy's own checks cost. */
  copy_vs_transfer_ratio: Record<string, number>;
  copy_peak_rss_mb: Record<string, number>;
  /** The largest size's peak RSS ÷ the smallest's. */
  rss_growth: number;
}

export async function measureCopy(options: { copy: SynthesizedFunction; workDir: string; sizesMb: number[]; rounds: number; log(line: string): void }): Promise<CopyFigures> {
  const dataDir = join(options.workDir, 'copy-data');
  ensurePrivateDir(dataDir);
  const credentials = localCredentials(dataDir);
  const closers: (() => Promise<void>)[] = [];
  try {
    const dynamo = await startDynamoDb(dataDir, credentials, {
      TableName: TABLE,
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    });
    closers.push(dynamo.close);
    const s3 = await startS3(dataDir, credentials, BUCKET, () => {});
    closers.push(s3.close);
    const host = await startVideoHost();
    closers.push(() => closeServer(host.server, 0));
    const tasks = new DynamoDbTaskStore(
      DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: dynamo.endpoint, region: LOCAL_REGION, credentials }), {
        marshallOptions: { removeUndefinedValues: true },
      }),
      TABLE,
    );
    const env = childEnvironment(options.copy, credentials, dynamo, s3, host.origin);
    const bucket = new S3Client({ endpoint: s3.endpoint, region: LOCAL_REGION, credentials, forcePathStyle: true });
    closers.push(async () => bucket.destroy());
    // Each object goes once measured: 3 rounds of 500 MB twice over would otherwise pile up in the data dir.
    const remove = (key: string) => bucket.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));

    const runs: CopyFigures['runs'] = {};
    for (const size of options.sizesMb) {
      const url = `${host.origin}/video-${size}.mp4`;
      options.log(`copy: ${size} MB: a plain download, then ${options.rounds} plain transfers and ${options.rounds} copies, in alternating order`);
      const download = await child(env, downloadScript(url));
      const transfers: CopyRun[] = [];
      const copies: CopyRun[] = [];
      const transfer = async (round: number) => {
        const key = `plain/${size}-${round}.mp4`;
        transfers.push(await child(env, transferScript(url, key)));
        await remove(key);
      };
      const copy = async () => {
        const task = await copyingTask(tasks, url, `${host.origin}/thumbnail.jpg`);
        copies.push(await child(env, copyScript(options.copy.bundle, task.id)));
        await remove(`generations/${task.id}/video.mp4`);
      };
      for (let round = 0; round < options.rounds; round++) {
        if (round % 2 === 0) await transfer(round).then(copy);
        else await copy().then(() => transfer(round));
      }
      runs[String(size)] = {
        copy: { ms: median(copies.map((one) => one.ms)), peak_rss_mb: Math.max(...copies.map((one) => one.peak_rss_mb)) },
        download,
        transfer: { ms: median(transfers.map((one) => one.ms)), peak_rss_mb: Math.max(...transfers.map((one) => one.peak_rss_mb)) },
      };
    }
    const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
    const sizes = options.sizesMb.map(String);
    return {
      sizes_mb: options.sizesMb,
      runs,
      rounds: options.rounds,
      copy_ratio: Object.fromEntries(sizes.map((size) => [size, ratio(runs[size]!.copy.ms, runs[size]!.download.ms)])),
      copy_vs_transfer_ratio: Object.fromEntries(sizes.map((size) => [size, ratio(runs[size]!.copy.ms, runs[size]!.transfer.ms)])),
      copy_peak_rss_mb: Object.fromEntries(sizes.map((size) => [size, runs[size]!.copy.peak_rss_mb])),
      rss_growth: ratio(runs[sizes.at(-1)!]!.copy.peak_rss_mb, runs[sizes[0]!]!.copy.peak_rss_mb),
    };
  } finally {
    for (const close of closers.reverse()) await close();
  }
}

/** A loopback host serving `/video-<MB>.mp4` of exactly that many megabytes, and the sample thumbnail. */
async function startVideoHost(): Promise<{ server: Server; origin: string }> {
  const sample = readFileSync(new URL('sample.mp4', ASSETS));
  const head = Buffer.concat([box(sample, 'ftyp'), box(sample, 'moov')]);
  const thumbnail = readFileSync(new URL('sample.jpg', ASSETS));
  const zeros = Buffer.alloc(1024 * 1024);
  const server = createServer((req, res) => {
    const size = /^\/video-(\d+)\.mp4$/.exec(req.url ?? '')?.[1];
    if (req.url === '/thumbnail.jpg') return res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': thumbnail.length }).end(thumbnail);
    if (!size) return res.writeHead(404).end();
    const total = Number(size) * MB;
    const mdat = total - head.length;
    const header = Buffer.alloc(8);
    header.writeUInt32BE(mdat, 0);
    header.write('mdat', 4, 'latin1');
    res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': total });
    res.write(head);
    res.write(header);
    let left = mdat - 8;
    const pump = () => {
      while (left > 0) {
        const chunk = left >= zeros.length ? zeros : zeros.subarray(0, left);
        left -= chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const origin = await listenOnLoopback(server);
  return { server, origin };
}

/** A top-level box of an MP4, whole. */
function box(mp4: Buffer, type: string): Buffer {
  for (let offset = 0; offset < mp4.length; ) {
    const size = mp4.readUInt32BE(offset);
    if (mp4.toString('latin1', offset + 4, offset + 8) === type) return mp4.subarray(offset, offset + size);
    offset += size;
  }
  throw new Error(`The sample has no ${type} box.`);
}

async function copyingTask(tasks: DynamoDbTaskStore, videoUrl: string, imageUrl: string): Promise<Task> {
  const now = new Date();
  const base = newTask({ id: crypto.randomUUID(), owner: 'own_bench', request: { prompt: 'bench' }, provider: 'luma', model: 'ray-2', now, timeoutSeconds: 3600 });
  const at = now.toISOString();
  const task: Task = {
    ...base,
    status: 'copying',
    upstreamId: `bench-${base.id}`,
    admittedAt: at,
    upstreamAssets: { videoUrl, imageUrl },
    history: [...base.history, { status: 'submitted', at }, { status: 'copying', at }],
  };
  await tasks.create(task);
  return task;
}

/** The Copy function's environment, pointed at the emulators; the video host is an explicitly allowed origin. */
function childEnvironment(copy: SynthesizedFunction, credentials: LocalCredentials, dynamo: Emulator, s3: Emulator, origin: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    ...copy.environment,
    TABLE_NAME: TABLE,
    BUCKET_NAME: BUCKET,
    ASSET_HOST_ALLOWLIST: `${copy.environment.ASSET_HOST_ALLOWLIST},${origin}`,
    AWS_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    // As the local runtime sets them (function-environment.ts): s3rver needs path style and no streaming checksums.
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    S3_FORCE_PATH_STYLE: 'true',
  };
}

/**
 * Runs `body` (an ES module) in a fresh Node and reports its time and peak RSS. The time runs from the
 * moment the body sets `globalThis.started` (after loading what it needs: the copy's init is not the copy).
 */
async function child(env: Record<string, string>, body: string): Promise<CopyRun> {
  // The peak RSS of this process's own memory (VmHWM), not getrusage's maxRSS: that one survives the exec
  // that starts the child, so a child of a parent of 250 MB reports at least 250 MB whatever it uses itself.
  const script =
    `${body}\nconst ms = performance.now() - globalThis.started;\n` +
    "const { readFileSync } = await import('node:fs');\n" +
    "const hwm = /^VmHWM:\\s+(\\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];\n" +
    'process.stdout.write(JSON.stringify({ ms, rssKb: hwm ? Number(hwm) : process.resourceUsage().maxRSS }));';
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { env, maxBuffer: 1 << 20, cwd: process.cwd() });
  const { ms, rssKb } = JSON.parse(stdout.slice(stdout.lastIndexOf('{'))) as { ms: number; rssKb: number };
  return { ms: Math.round(ms), peak_rss_mb: Math.round(rssKb / 1024) };
}

function copyScript(bundle: string, taskId: string): string {
  return (
    `const { handler } = await import(${JSON.stringify(pathToFileURL(bundle).href)});\n` +
    'globalThis.started = performance.now();\n' +
    `const result = await handler({ taskId: ${JSON.stringify(taskId)} }, { getRemainingTimeInMillis: () => 900_000 });\n` +
    "if (result?.next !== 'completed') throw new Error('the copy did not complete: ' + JSON.stringify(result));"
  );
}

function downloadScript(url: string): string {
  return (
    "const { get } = await import('node:http');\n" +
    'globalThis.started = performance.now();\n' +
    `await new Promise((resolve, reject) => get(${JSON.stringify(url)}, (res) => { res.on('data', () => {}); res.on('end', resolve); res.on('error', reject); }).on('error', reject));`
  );
}

/** The same bytes into the same bucket with the copy's multipart settings (media-store.ts), and nothing else. */
function transferScript(url: string, key: string): string {
  return (
    "const { get } = await import('node:http');\n" +
    "const { S3Client } = await import('@aws-sdk/client-s3');\n" +
    "const { Upload } = await import('@aws-sdk/lib-storage');\n" +
    "const client = new S3Client({ forcePathStyle: true });\n" +
    'globalThis.started = performance.now();\n' +
    `const body = await new Promise((resolve, reject) => get(${JSON.stringify(url)}, resolve).on('error', reject));\n` +
    `await new Upload({ client, params: { Bucket: ${JSON.stringify(BUCKET)}, Key: ${JSON.stringify(key)}, Body: body, ContentType: 'video/mp4' }, partSize: ${UPLOAD_PART_BYTES}, queueSize: ${UPLOAD_QUEUE} }).done();`
  );
}
