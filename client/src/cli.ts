/**
 * `luma-video`: the gateway from a terminal or a script. On a terminal, `--wait` keeps one progress line
 * (state, queue position, elapsed) and ends with a summary; otherwise every change is a JSON line, so
 * scripts read events, not prose. Exit codes: 0 done, 1 the generation failed (its failure code printed) or
 * the gateway could not be used, 2 a usage error (flags, missing endpoint or key, a file that cannot be
 * read, or a request the gateway refused as invalid).
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { LumaVideoApiError, LumaVideoClient, type Generation, type GenerationRequest, type GenerationState, type Progress } from './index.ts';
import { CLIENT_VERSION } from './version.ts';

export const USAGE = `usage: luma-video <command> [options]

commands:
  generate "<prompt>"  create a generation
      [--aspect 16:9] [--resolution 720p] [--duration 5s] [--model ray-2] [--loop]
      [--image ./start.png] [--end-image ./end.jpg]   a local file (uploaded first), an http(s) URL or upload:<id>
      [--wait] [--out video.mp4] [--idempotency-key <key>]
  get <id> [--wait] [--out video.mp4]
  list [--limit 20] [--state pending|processing|completed|failed] [--cursor <c>] [--all]
  cancel <id>
  delete <id>

options:
  --endpoint <url>   the gateway's URL (or LUMA_GATEWAY_URL), e.g. http://127.0.0.1:3000
  --key <key>        a client key (or LUMA_GATEWAY_KEY)
  --json             JSON lines even on a terminal
  --timeout <s>      stop waiting after this many seconds (exit 1)
  -h, --help         this text
  --version

exit codes: 0 done, 1 failed (the failure code is printed) or the gateway could not be used, 2 usage error`;

export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  env: Record<string, string | undefined>;
  /** Lets Ctrl-C stop a wait (the generation goes on). */
  signal?: AbortSignal;
  fetch?: typeof fetch;
}

class UsageError extends Error {}

const OPTIONS = {
  endpoint: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  aspect: { type: 'string' },
  resolution: { type: 'string' },
  duration: { type: 'string' },
  model: { type: 'string' },
  loop: { type: 'boolean' },
  image: { type: 'string' },
  'end-image': { type: 'string' },
  wait: { type: 'boolean' },
  out: { type: 'string' },
  'idempotency-key': { type: 'string' },
  limit: { type: 'string' },
  state: { type: 'string' },
  cursor: { type: 'string' },
  all: { type: 'boolean' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>['values'];

/** Runs one command; answers the exit code. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (error) {
    return usage(io, (error as Error).message);
  }
  if (values.help) return io.stdout.write(`${USAGE}\n`), 0;
  if (values.version) return io.stdout.write(`${CLIENT_VERSION}\n`), 0;
  const out = new Output(io, Boolean(values.json));
  try {
    const [command, ...rest] = positionals;
    if (!command) throw new UsageError('name a command');
    const client = connect(values, io);
    switch (command) {
      case 'generate':
        return await generate(client, values, one(rest, 'a prompt, in quotes'), out, io.signal);
      case 'get': {
        const generation = await client.getGeneration(one(rest, 'a generation id'));
        return values.wait || values.out ? await finish(client, generation, values, out, io.signal) : (out.generation(generation), 0);
      }
      case 'list':
        return await list(client, values, out, rest);
      case 'cancel':
        out.generation(await client.cancel(one(rest, 'a generation id')));
        return 0;
      case 'delete': {
        const id = one(rest, 'a generation id');
        await client.delete(id);
        out.event({ event: 'deleted', id }, `deleted ${id}`);
        return 0;
      }
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) return usage(io, error.message);
    if (io.signal?.aborted) {
      io.stderr.write(`\nstopped waiting; the generation goes on (luma-video get <id> --wait)\n`);
      return 130;
    }
    if (error instanceof LumaVideoApiError) {
      out.error(`${error.code}: ${error.message}${describeDetails(error.details)}`, { event: 'error', status: error.status, code: error.code, message: error.message, details: error.details });
      return error.status === 400 ? 2 : 1;
    }
    out.error((error as Error).message, { event: 'error', code: (error as Error).name, message: (error as Error).message });
    return 1;
  }
}

function usage(io: CliIo, problem: string): number {
  io.stderr.write(`luma-video: ${problem}\n\n${USAGE}\n`);
  return 2;
}

function one(rest: string[], what: string): string {
  if (rest.length !== 1 || !rest[0]) throw new UsageError(`expected ${what}${rest.length > 1 ? ` (got ${rest.length} arguments: quote the prompt)` : ''}`);
  return rest[0];
}

function connect(values: Values, io: CliIo): LumaVideoClient {
  const baseUrl = values.endpoint ?? io.env.LUMA_GATEWAY_URL;
  const apiKey = values.key ?? io.env.LUMA_GATEWAY_KEY;
  if (!baseUrl) throw new UsageError('no gateway: pass --endpoint <url> or set LUMA_GATEWAY_URL');
  if (!/^https?:\/\/[^/]/i.test(baseUrl)) throw new UsageError(`--endpoint must be an http(s) URL, not "${baseUrl}"`);
  if (!apiKey) throw new UsageError('no key: pass --key <key> or set LUMA_GATEWAY_KEY');
  return new LumaVideoClient({ baseUrl, apiKey, fetch: io.fetch });
}

async function generate(client: LumaVideoClient, values: Values, prompt: string, out: Output, signal?: AbortSignal): Promise<number> {
  const request: Record<string, unknown> = { user_prompt: prompt };
  if (values.aspect) request.aspect_ratio = values.aspect;
  if (values.resolution) request.resolution = values.resolution;
  if (values.duration) request.duration = values.duration;
  if (values.model) request.model = values.model;
  if (values.loop) request.loop = true;
  if (values.image) request.image_url = await keyframe(client, values.image, '--image', out);
  if (values['end-image']) request.image_end_url = await keyframe(client, values['end-image'], '--end-image', out);
  const created = await client.createGeneration(request as GenerationRequest, { idempotencyKey: values['idempotency-key'], signal });
  if (!values.wait && !values.out) return out.generation(created), 0;
  return finish(client, created, values, out, signal);
}

/** A keyframe flag's value as the API takes it: a local file becomes an upload; URLs and references pass as they are. */
async function keyframe(client: LumaVideoClient, value: string, flag: string, out: Output): Promise<string> {
  if (/^(https?:\/\/|upload:|data:)/i.test(value)) return value;
  if (!existsSync(value)) throw new UsageError(`${flag}: no such file "${value}" (or give an http(s) URL)`);
  const ticket = await client.upload(value);
  out.event({ event: 'uploaded', flag, path: value, image_url: ticket.image_url, size_bytes: ticket.size_bytes }, `uploaded ${value} (${formatBytes(ticket.size_bytes)})`);
  return ticket.image_url;
}

async function finish(client: LumaVideoClient, generation: Generation, values: Values, out: Output, signal?: AbortSignal): Promise<number> {
  const timeoutMs = values.timeout === undefined ? undefined : Number(values.timeout) * 1000;
  if (timeoutMs !== undefined && !(timeoutMs > 0)) throw new UsageError('--timeout takes a number of seconds');
  const done = await out.waiting(generation.id, (onProgress) => client.waitForCompletion(generation, { onProgress, signal, timeoutMs }));
  if (done.state === 'failed') {
    out.event(
      { event: 'failed', id: done.id, failure_code: done.failure_code, failure_reason: done.failure_reason, generation: done },
      `failed: ${done.failure_code ?? 'unknown'}: ${done.failure_reason ?? 'no reason given'}`,
      true,
    );
    return 1;
  }
  const video = done.video!;
  out.event({ event: 'completed', id: done.id, generation: done }, `completed ${done.id}: ${video.width}×${video.height}, ${video.duration ?? '?'} s, ${formatBytes(video.size_bytes)}\n${video.url}`);
  if (values.out) {
    const saved = await client.download(done, values.out, { signal });
    out.event({ event: 'saved', id: done.id, path: values.out, bytes: saved.bytes, sha256: saved.sha256 }, `saved ${values.out} (${formatBytes(saved.bytes)}, SHA-256 checked)`);
  }
  return 0;
}

async function list(client: LumaVideoClient, values: Values, out: Output, rest: string[]): Promise<number> {
  if (rest.length > 0) throw new UsageError('list takes no arguments');
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= 100)) throw new UsageError('--limit takes a whole number from 1 to 100');
  const state = values.state as GenerationState | undefined;
  if (values.all) {
    for await (const generation of client.generations({ limit, state })) out.row(generation);
    return 0;
  }
  const page = await client.listGenerations({ limit, state, cursor: values.cursor });
  if (out.human) {
    for (const generation of page.data) out.row(generation);
    if (page.next_cursor) out.event({}, `more: luma-video list --cursor ${page.next_cursor}`);
  } else out.event(page, '');
  return 0;
}

/** Lines for a person on a terminal, or JSON lines for a program. */
class Output {
  readonly human: boolean;
  constructor(
    private readonly io: CliIo,
    json: boolean,
  ) {
    this.human = Boolean(io.stdout.isTTY) && !json;
  }

  event(value: object, text: string, toStderr = false): void {
    if (!this.human) this.io.stdout.write(`${JSON.stringify(value)}\n`);
    else if (text) (toStderr ? this.io.stderr : this.io.stdout).write(`${text}\n`);
  }

  generation(generation: Generation): void {
    this.io.stdout.write(this.human ? `${JSON.stringify(generation, null, 2)}\n` : `${JSON.stringify(generation)}\n`);
  }

  row(generation: Generation): void {
    const when = generation.created_at.slice(0, 19).replace('T', ' ');
    const prompt = generation.prompt.length > 60 ? `${generation.prompt.slice(0, 59)}…` : generation.prompt;
    this.event(generation, `${generation.id}  ${generation.state.padEnd(10)}  ${when}  ${prompt}`);
  }

  error(text: string, value: object): void {
    if (this.human) this.io.stderr.write(`luma-video: ${text}\n`);
    else this.io.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** Runs a wait, showing its progress: one rewritten line on a terminal, a JSON line per change otherwise. */
  async waiting(id: string, wait: (onProgress: (progress: Progress) => void) => Promise<Generation>): Promise<Generation> {
    let last = '';
    if (!this.human) {
      return wait(({ state, queuePosition, elapsedMs }) => {
        const key = `${state}/${queuePosition}`;
        if (key === last) return;
        last = key;
        this.event({ event: 'progress', id, state, queue_position: queuePosition, elapsed_seconds: Math.round(elapsedMs / 100) / 10 }, '');
      });
    }
    const started = Date.now();
    let status = 'waiting';
    const draw = () => this.io.stderr.write(`\r\x1b[2K${id.slice(0, 8)}  ${status}  ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const ticker = setInterval(draw, 200);
    try {
      return await wait(({ state, queuePosition }) => {
        status = queuePosition ? `${state}, #${queuePosition} in your queue` : state;
        draw();
      });
    } finally {
      clearInterval(ticker);
      this.io.stderr.write('\r\x1b[2K');
    }
  }
}

function describeDetails(details: unknown): string {
  if (!Array.isArray(details)) return '';
  return details.map((issue: { field?: string; message?: string }) => `\n  ${issue.field}: ${issue.message}`).join('');
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
