/**
 * Hostile input against the whole gateway, in-process over real HTTP on 127.0.0.1: a corpus of named
 * cases (every method on every route, upload requests and references, traversal ids, wrong types, huge and deep bodies, Unicode edge
 * cases, prototype-pollution keys, header injection, oversized headers, wrong content types, Base64 bombs
 * and polyglots, malformed HTTP), then fast-check properties over the request schema. Every answer must
 * be a correct success (the aggregator generation shape) or a JSON 4xx `{error: {code, message}}` — never a
 * 5xx, never a hang, never a key, a stack frame or a file path — and the gateway must serve valid
 * requests afterwards.
 *
 * Two layers below the API answer some requests themselves, and the cases that reach them say so:
 * Node's HTTP parser (`parser`: a bare 400 or 431, no body, connection closed) and API Gateway, played
 * by local/api-front.ts (`edge`: 413 with API Gateway's own text for a body over 10 MiB, as in AWS).
 *
 * A third refusal is Lambda's: a request whose event would exceed the 6 MB synchronous payload never
 * reaches the function (local/lambda-host.ts refuses it as Lambda does), and the front answers for it with
 * the REST API's REQUEST_TOO_LARGE gateway response, a 413 in the API's error shape. Every body reaches the
 * function Base64-encoded (every media type is binary), so such a case is any whose body is over about 4.5 MiB
 * and at most 10 MiB; they are found by size, not named, and listed apart. Bodies between the API's limit
 * (4,325,376 bytes) and that get the API's own 413.
 *
 * Unless a case states its answer, a POST's expected status comes from the request schema itself
 * (200 when `generationRequestSchema` accepts the body, else 400), so the corpus checks that what the
 * schema decides is what a client gets over the wire.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { crc32, deflateSync, gzipSync } from 'node:zlib';
import { startLocalGateway, type LocalGateway } from '../../local/gateway.ts';
import { startSimulatedLuma, type SimulatedLuma } from '../../local/simulated-luma.ts';
import { publicGenerationSchema } from '../../functions/commons/domain/public-generation-schema.ts';
import { generationRequestSchema } from '../../functions/commons/domain/generation-request.ts';
import { LUMA_ASPECT_RATIOS } from '../../functions/commons/domain/luma-options.ts';
import { ApiTestClient } from '../support/client.ts';
import { LAMBDA_SYNC_PAYLOAD_BYTES, jsonBytes } from '../../local/aws-limits.ts';
import { base64Length, MAX_BODY_BYTES, MAX_INLINE_KEYFRAME_BYTES } from '../../functions/commons/domain/payload-limits.ts';
import { ROOMY_DEADLINE_SECONDS, TEST_TIME_SCALE } from '../support/time.ts';
import { isSitePath } from '../../functions/api/site.ts';

// ------------------------------------------------------------------------------------------ the gateway

const API_KEY = `hostile-${randomBytes(16).toString('hex')}`;
const UPSTREAM_KEY = randomBytes(24).toString('hex');
// No answer time is asserted (the machine is shared and noisy): a request that hangs in a function meets
// the function's own timeout and shows up as a 5xx, and one that hangs anywhere else ends the test at its
// timeout.
/** fast-check runs per property: enough to find shape bugs, few enough to keep the file near a minute. */
const RUNS = 40;

const UUID = '0b4f1c2e-0000-4000-8000-000000000000';
const VALID = { user_prompt: 'A quiet harbour at dawn' };
const VALID_TEXT = JSON.stringify(VALID);
const TINY_PNG = readFileSync(new URL('../fixtures/media/tiny.png', import.meta.url));
const TINY_WEBP = readFileSync(new URL('../fixtures/media/tiny.webp', import.meta.url));
const NAUGHTY: string[] = JSON.parse(readFileSync(new URL('../fixtures/hostile/naughty-strings.json', import.meta.url), 'utf8')).strings;
/** Data URI headers built to make a parser work hard: head + repeat × times + tail, then the Base64. */
const DATA_URI_HEADERS: { name: string; head: string; repeat: string; times: number; tail: string }[] = JSON.parse(
  readFileSync(new URL('../fixtures/hostile/data-uri-headers.json', import.meta.url), 'utf8'),
).cases;
const MiB = 1024 * 1024;

let gateway: LocalGateway;
let upstream: SimulatedLuma;
let dataDir: string;
let client: ApiTestClient;
const functionLogs: string[] = [];
const tally = { requests: 0, serverErrors: [] as string[], overLambdaEvent: [] as string[], timedOutOnce: [] as string[] };

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'hostile-it-'));
  // Our own simulated upstream, so the test knows the upstream key and can look for it in every answer.
  // Generations finish at once upstream: the hundreds of tasks the corpus creates then poll once or twice
  // instead of weighing on every later request while they wait.
  upstream = await startSimulatedLuma({
    apiKey: UPSTREAM_KEY,
    timeScale: 0.01,
    queuedSeconds: 0,
    dreamingSeconds: 1,
    stateFile: join(dataDir, 'simulated-luma.json'),
  });
  gateway = await startLocalGateway({
    dataDir,
    port: 0,
    apiKeys: [API_KEY],
    timeScale: TEST_TIME_SCALE,
    generationTimeoutSeconds: ROOMY_DEADLINE_SECONDS,
    upstream: { baseUrl: upstream.baseUrl, apiKey: UPSTREAM_KEY },
    // Many cases are valid and create tasks: limits would turn later ones into 429s and long queues. The
    // corpus sends all of it with one key from one address, far more than a client may a minute.
    capacity: { maxConcurrent: 1000, maxCreatesPerMinute: 100_000 },
    keyLimits: { maxConcurrent: 100_000, ratePerMinute: 100_000 },
    edgeLimits: { requestsPerKey: 1_000_000, requestsPerAddress: 1_000_000, rateLimit: 10_000, burstLimit: 10_000 },
    log: () => undefined,
    functionLogs: (chunk) => void functionLogs.push(chunk),
  });
  client = new ApiTestClient(gateway.url, API_KEY);
});

afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

// ------------------------------------------------------------------------------------------- the cases

type Via = 'fetch' | 'http' | 'raw';

interface HostileCase {
  group: string;
  name: string;
  method: string;
  path: string;
  /** Over the defaults (a valid Authorization, and Content-Type: application/json with a body); null removes. */
  headers?: Record<string, string | null>;
  body?: string | Buffer;
  /** fetch unless it refuses to send this (TRACE, a GET body, no Content-Type); raw for bytes no client sends. */
  via?: Via;
  /** via raw: the exact bytes on the wire. */
  raw?: Buffer;
  /** The statuses this case documents; for a POST with a JSON body, the schema's verdict when unset. */
  expect?: number | readonly number[];
  code?: string;
  /** Node's HTTP parser answers itself: a bare status line, no body. */
  parser?: true;
  /** The API Gateway stand-in answers itself: 413 with its text for a body over 10 MiB. */
  edge?: true;
  /** The connection is closed without an answer. */
  closes?: true;
  /** More to check on a JSON answer. */
  check?: (answer: Answer, body: any) => void;
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  closed?: boolean;
}

/** A POST of a JSON value; its expected status is the schema's verdict unless `extra.expect` says otherwise. */
function postJson(group: string, name: string, value: unknown, extra: Partial<HostileCase> = {}): HostileCase {
  return postText(group, name, JSON.stringify(value), extra);
}

function postText(group: string, name: string, body: string | Buffer, extra: Partial<HostileCase> = {}): HostileCase {
  return { group, name, method: 'POST', path: '/luma/generations', body, expect: schemaVerdict(body), ...extra };
}

/** 200 when the request schema accepts the body, 400 when it is not JSON or the schema refuses it. */
function schemaVerdict(body: string | Buffer): number {
  let value: unknown;
  try {
    value = JSON.parse(body.toString());
  } catch {
    return 400;
  }
  return generationRequestSchema.safeParse(value).success ? 200 : 400;
}

/** Request bytes for the raw socket: `Host` and `Connection: close` added, a valid key unless `auth` is false. */
function rawRequest(requestLine: string, headerLines: string[] = [], body: Buffer | string = '', options: { auth?: boolean; length?: boolean } = {}): Buffer {
  const payload = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  const lines = [
    requestLine,
    'Host: 127.0.0.1',
    'Connection: close',
    ...(options.auth === false ? [] : [`Authorization: Bearer ${API_KEY}`]),
    ...(options.length === false || payload.length === 0 ? [] : [`Content-Length: ${payload.length}`]),
    ...headerLines,
  ];
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), payload]);
}

function raw(group: string, name: string, bytes: Buffer, extra: Partial<HostileCase> = {}): HostileCase {
  const requestLine = bytes.toString('latin1', 0, Math.max(0, bytes.indexOf('\r\n')));
  const [method = '?', path = '?'] = requestLine.split(' ');
  return { group, name, method, path, via: 'raw', raw: bytes, ...extra };
}

// Images, built byte by byte so each case says exactly what it carries.
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function pngChunk(type: string, data: Buffer, crc?: number): Buffer {
  const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const chunk = Buffer.alloc(8 + data.length + 4);
  chunk.writeUInt32BE(data.length, 0);
  typeAndData.copy(chunk, 4);
  chunk.writeUInt32BE(crc ?? crc32(typeAndData), 8 + data.length);
  return chunk;
}

function png(width: number, height: number, options: { bitDepth?: number; crc?: number; tail?: Buffer } = {}): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width >>> 0, 0);
  ihdr.writeUInt32BE(height >>> 0, 4);
  ihdr[8] = options.bitDepth ?? 8;
  ihdr[9] = 6; // RGBA
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr, options.crc), options.tail ?? Buffer.alloc(0)]);
}

/** A whole PNG file: the header, `chunks`, one IDAT (of nothing: pixels are never decoded) and IEND. */
function completePng(width: number, height: number, chunks: Buffer[] = [], options: { bitDepth?: number; crc?: number } = {}): Buffer {
  return png(width, height, { ...options, tail: Buffer.concat([...chunks, pngChunk('IDAT', deflateSync(Buffer.alloc(0))), pngChunk('IEND', Buffer.alloc(0))]) });
}

/** A whole PNG of exactly `size` bytes, grown by an ancillary chunk of zeros. */
function pngOfSize(size: number): Buffer {
  const filler = (length: number) => pngChunk('zzZz', Buffer.alloc(length));
  return completePng(64, 48, [filler(size - completePng(64, 48, [filler(0)]).length)]);
}

/** SOI, an APP1 segment carrying `payload`, a baseline frame header, a scan and EOI: a whole JPEG file. */
function jpegWith(payload: Buffer, afterEnd = Buffer.alloc(0)): Buffer {
  const app1 = Buffer.concat([Buffer.from([0xff, 0xe1, 0, 0]), payload]);
  app1.writeUInt16BE(payload.length + 2, 2);
  const sof0 = Buffer.from([0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0x30, 0x00, 0x40, 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
  const sos = Buffer.from([0xff, 0xda, 0x00, 0x0c, 0x03, 1, 0x00, 2, 0x11, 3, 0x11, 0x00, 0x3f, 0x00]);
  const entropyCoded = Buffer.from([0x12, 0x34, 0xff, 0x00, 0x56]);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), app1, sof0, sos, entropyCoded, Buffer.from([0xff, 0xd9]), afterEnd]);
}

const dataUri = (bytes: Buffer, type = 'image/png') => `data:${type};base64,${bytes.toString('base64')}`;
const withPrompt = (fields: Record<string, unknown>) => ({ ...VALID, ...fields });

/** Spreads `text` to `length` characters with whitespace between every character. */
function spreadWithWhitespace(text: string, length: number): string {
  const gap = ' '.repeat(Math.floor((length - text.length) / (text.length - 1)));
  return text.split('').join(gap);
}

/** `depth` arrays, one inside the other. */
const nestedArrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

function buildCorpus(): HostileCase[] {
  const cases: HostileCase[] = [];
  const add = (...more: HostileCase[]) => void cases.push(...more);

  // Every method on every route: 405 on a known route, 404 elsewhere, routing before authentication.
  const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE'];
  /** Path, and the methods it serves with the answer to each (none: no such route). */
  const ROUTES: [string, Record<string, number>][] = [
    ['/luma/generations', { POST: 200, GET: 200 }], // GET: the caller's list
    ['/luma/generations/', { POST: 200, GET: 200 }],
    [`/luma/generations/${UUID}`, { GET: 404, DELETE: 404 }], // no such task
    ['/luma/generations/not-a-task', { GET: 404, DELETE: 404 }],
    [`/luma/generations/${UUID}/cancel`, { POST: 404 }],
    ['/luma/uploads', { POST: 400 }], // the body is a generation's, not an upload request
    ['/luma/uploads/', { POST: 400 }],
    [`/luma/uploads/${UUID}`, {}],
    ['/', { GET: 200 }], // the playground
    ['/openapi.json', { GET: 200 }],
    ['/luma', {}],
    ['/nope', {}],
    ['/luma/generations/a/b', {}],
    [`/luma/generations/${UUID}/cancel/x`, {}],
    ['/LUMA/GENERATIONS', {}],
    ['/luma/generationsx', {}],
  ];
  for (const [path, served] of ROUTES) {
    for (const method of METHODS) {
      const expected = served[method] ?? (Object.keys(served).length > 0 ? 405 : 404);
      add({
        group: 'methods',
        name: `${method} ${path}`,
        method,
        path,
        body: ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method) ? VALID_TEXT : undefined,
        via: method === 'TRACE' ? 'http' : 'fetch',
        expect: expected,
        code: expected === 405 ? 'method_not_allowed' : expected === 404 ? 'not_found' : undefined,
      });
    }
  }
  add(
    { group: 'methods', name: 'POST without a key', method: 'POST', path: '/luma/generations', body: VALID_TEXT, headers: { authorization: null }, expect: 401, code: 'unauthorized' },
    { group: 'methods', name: 'GET a task without a key', method: 'GET', path: `/luma/generations/${UUID}`, headers: { authorization: null }, expect: 401 },
    { group: 'methods', name: 'DELETE without a key (405 comes first)', method: 'DELETE', path: '/luma/generations', headers: { authorization: null }, expect: 405 },
    { group: 'methods', name: 'unknown path without a key (404 comes first)', method: 'GET', path: '/admin', headers: { authorization: null }, expect: 404 },
    raw('methods', 'PROPFIND (a method Node knows)', rawRequest('PROPFIND /luma/generations HTTP/1.1'), { expect: 405 }),
    raw('methods', 'MKCOL on an item', rawRequest(`MKCOL /luma/generations/${UUID} HTTP/1.1`), { expect: 405 }),
    raw('methods', 'lower-case "get" (no such method)', rawRequest(`get /luma/generations/${UUID} HTTP/1.1`), { parser: true, expect: 400 }),
    raw('methods', 'made-up method FOO', rawRequest('FOO /luma/generations HTTP/1.1'), { parser: true, expect: 400 }),
    raw('methods', 'CONNECT (no tunnel: the connection is closed)', rawRequest('CONNECT 127.0.0.1:1 HTTP/1.1'), { closes: true }),
    raw('methods', 'OPTIONS * (asterisk-form)', rawRequest('OPTIONS * HTTP/1.1'), { expect: 404 }),
    raw('methods', 'HTTP/1.0 POST', rawRequest('POST /luma/generations HTTP/1.0', ['Content-Type: application/json'], VALID_TEXT), { expect: 200 }),
  );

  // Task ids: anything but a UUID is not a task (404), whatever it decodes to.
  const IDS: [string, string][] = [
    ['encoded traversal ..%2F..%2Fetc%2Fpasswd', '..%2F..%2Fetc%2Fpasswd'],
    ['lower-case encoded slash ..%2f..', '..%2f..'],
    ['double-encoded traversal %252e%252e%252f', '%252e%252e%252f'],
    ['NUL %00', '%00'],
    ['UUID then NUL', `${UUID}%00`],
    ['UUID then NUL and .json', `${UUID}%00.json`],
    ['overlong UTF-8 dot %C0%AE%C0%AE', '%C0%AE%C0%AE%C0%AF'],
    ['truncated escape %E0%A4%A', '%E0%A4%A'],
    ['lone percent', '%'],
    ['invalid escape %zz', '%zz'],
    ['bytes FF FE', '%FF%FE'],
    ['upper-case UUID (not known)', UUID.toUpperCase()],
    ['UUID in braces', `%7B${UUID}%7D`],
    ['UUID without dashes', UUID.replace(/-/g, '')],
    ['UUID with CRLF and a header', `${UUID}%0d%0aSet-Cookie:%20pwned=1`],
    ['UUID with a trailing space', `${UUID}%20`],
    ['UUID and a semicolon parameter', `${UUID};jsessionid=1`],
    ['2,000 characters', 'x'.repeat(2000)],
    ['8,000 characters', 'a'.repeat(8000)],
    ['emoji', encodeURIComponent('🐙🐙')],
    ['RTL override', encodeURIComponent('\u202eexe.png')],
    ['dot (fetch resolves it to the collection: the list)', '.'],
    ['dot-dot-dot', '...'],
    ['__proto__', '__proto__'],
    ['constructor', 'constructor'],
    ['template', '%7B%7B7*7%7D%7D'],
    ['SQL', encodeURIComponent("' OR '1'='1")],
    ['query string only', `${UUID}?id=../../etc/passwd`],
  ];
  for (const [name, id] of IDS) {
    const expected = id === '.' ? 200 : 404;
    add({ group: 'ids', name, method: 'GET', path: `/luma/generations/${id}`, expect: expected });
  }
  add({ group: 'ids', name: '20,000 characters (request line over 16 KB)', method: 'GET', path: `/luma/generations/${'x'.repeat(20_000)}`, parser: true, expect: 431 });
  // fetch resolves dot segments before sending; these go out as written.
  const RAW_IDS: [string, string, number][] = [
    ['traversal ../../', '/luma/generations/../../etc/passwd', 404],
    ['traversal to the collection', '/luma/generations/x/../', 404],
    ['encoded dot segments %2e%2e', '/luma/generations/%2e%2e/%2e%2e/etc', 404],
    ['bracket: not a URL', '//[', 404],
    ['absolute-form, unparseable: its path is /, the playground', 'http://[', 200],
    ['backslashes', `/luma\\generations\\${UUID}`, 404],
  ];
  for (const [name, target, status] of RAW_IDS) add(raw('ids', name, rawRequest(`GET ${target} HTTP/1.1`), { expect: status }));
  add(
    raw('ids', 'raw byte FF in the path', rawRequest('GET /luma/generations/\xff HTTP/1.1'), { parser: true, expect: 400 }),
    raw('ids', 'space in the path', rawRequest('GET /luma/generations/a b HTTP/1.1'), { parser: true, expect: 400 }),
    raw('ids', 'POST to //host/luma/generations (a path, not a host)', rawRequest('POST //evil.example/luma/generations HTTP/1.1', ['Content-Type: application/json'], VALID_TEXT), { expect: 404 }),
    raw('ids', 'absolute-form POST', rawRequest('POST http://127.0.0.1/luma/generations HTTP/1.1', ['Content-Type: application/json'], VALID_TEXT), { expect: 200 }),
  );
  for (const [index, text] of NAUGHTY.entries()) {
    if (!text.trim()) continue;
    add({ group: 'ids', name: `naughty string #${index} as an id`, method: 'GET', path: `/luma/generations/${encodeURIComponent(text)}`, expect: 404 });
  }

  // Bodies that are JSON but not an object, or not JSON at all.
  const BODIES: [string, string | Buffer][] = [
    ['null', 'null'],
    ['true', 'true'],
    ['false', 'false'],
    ['zero', '0'],
    ['huge number', '1e999'],
    ['a string', '"A quiet harbour at dawn"'],
    ['empty array', '[]'],
    ['empty object', '{}'],
    ['array of the valid body', `[${VALID_TEXT}]`],
    ['empty body', ''],
    ['whitespace only', ' \n\t '],
    ['BOM then JSON (JSON.parse refuses a BOM)', `\ufeff${VALID_TEXT}`],
    ['trailing garbage', `${VALID_TEXT}xyz`],
    ['two objects', `${VALID_TEXT}${VALID_TEXT}`],
    ['NaN', '{"user_prompt":"A quiet harbour","loop":NaN}'],
    ['comments', '{"user_prompt":"A quiet harbour" /* hi */}'],
    ['single quotes', "{'user_prompt':'A quiet harbour'}"],
    ['trailing comma', '{"user_prompt":"A quiet harbour",}'],
    ['unquoted key', '{user_prompt:"A quiet harbour"}'],
    ['truncated', '{"user_prompt":"A quiet'],
    ['undefined', 'undefined'],
    ['raw control characters in a string', '{"user_prompt":"A quiet\tharbour\n"}'],
    ['duplicate key, the valid value last (last wins)', '{"user_prompt":"ab","user_prompt":"A quiet harbour"}'],
    ['duplicate key, the valid value first (last wins)', '{"user_prompt":"A quiet harbour","user_prompt":"ab"}'],
    ['duplicate loop key, a string last', '{"user_prompt":"A quiet harbour","loop":true,"loop":"yes"}'],
    ['invalid UTF-8 outside strings', Buffer.concat([Buffer.from('{"user_prompt":"A quiet harbour"'), Buffer.from([0xc0, 0xaf]), Buffer.from('}')])],
    ['invalid UTF-8 inside the prompt (becomes U+FFFD)', Buffer.concat([Buffer.from('{"user_prompt":"A quiet '), Buffer.from([0xc0, 0xae, 0xff]), Buffer.from(' harbour"}')])],
  ];
  for (const [name, body] of BODIES) add(postText('bodies', name, body));

  // Wrong types for every field.
  const FIELDS = ['user_prompt', 'expand_prompt', 'loop', 'aspect_ratio', 'image_url', 'image_end_url'];
  const VALUES: [string, unknown][] = [
    ['null', null],
    ['true', true],
    ['false', false],
    ['0', 0],
    ['-1.5', -1.5],
    ['1e308', 1e308],
    ['a number as a string', '16'],
    ['a boolean as a string', 'true'],
    ['empty string', ''],
    ['empty array', []],
    ['array of a valid value', ['A quiet harbour']],
    ['empty object', {}],
    ['operator object', { $gt: '' }],
    ['nested object', { url: 'https://example.com/a.png', user_prompt: 'A quiet harbour' }],
  ];
  for (const field of FIELDS) {
    for (const [label, value] of VALUES) add(postJson('types', `${field}: ${label}`, withPrompt({ [field]: value })));
  }
  add(
    postJson('types', 'aspect_ratio with a ratio colon (U+2236)', withPrompt({ aspect_ratio: '16\u22369' })),
    postJson('types', 'aspect_ratio with a leading space', withPrompt({ aspect_ratio: ' 16:9' })),
    postJson('types', 'aspect_ratio with a NUL', withPrompt({ aspect_ratio: '16:9\u0000' })),
    postJson('types', 'loop with an end frame', withPrompt({ loop: true, image_end_url: 'https://example.com/b.png' })),
    postJson('types', 'image_end_url false (means none)', withPrompt({ image_end_url: false, loop: true })),
    postJson('types', 'image_end_url "false" (a string, not an image)', withPrompt({ image_end_url: 'false' })),
    postJson('types', 'every field at once, valid', {
      user_prompt: 'A quiet harbour',
      expand_prompt: false,
      loop: false,
      aspect_ratio: '9:16',
      image_url: 'https://example.com/a.png',
      image_end_url: dataUri(TINY_PNG),
    }),
  );

  // Sizes and depth.
  /** A body of exactly `bytes` bytes: `{"user_prompt":"xxx…"}`. */
  const bigPrompt = (bytes: number) => JSON.stringify({ user_prompt: 'x'.repeat(bytes - '{"user_prompt":""}'.length) });
  add(
    postJson('size', 'prompt of exactly 5,000 characters', { user_prompt: 'x'.repeat(5000) }, { expect: 200 }),
    postJson('size', 'prompt of 5,001 characters', { user_prompt: 'x'.repeat(5001) }, { expect: 400 }),
    postJson('size', '5,000 characters inside whitespace (trimmed first)', { user_prompt: ` \n${'x'.repeat(5000)}\t ` }, { expect: 200 }),
    postText('size', 'prompt of 4 MB (under the body limit: 400, not 413)', bigPrompt(4_000_000), { expect: 400 }),
    postText('size', 'body of exactly the body limit (400: a prompt too long)', bigPrompt(MAX_BODY_BYTES), { expect: 400 }),
    postText('size', 'body of the body limit + 1 (413 from the API)', bigPrompt(MAX_BODY_BYTES + 1), { expect: 413, code: 'payload_too_large' }),
    postText('size', 'body of 4.3 MB of control characters (escaping would make it 26 MB; Base64, 5.8 MB)', `{"user_prompt":"${'\u0001'.repeat(4_300_000)}"}`, { expect: 400 }),
    postText('size', 'body of 10 MB (Lambda refuses the event: API Gateway’s 413 in the API’s shape)', bigPrompt(10_000_000), { expect: 413, code: 'payload_too_large' }),
    postText('size', 'body of 10 MiB + 1 (API Gateway refuses it)', bigPrompt(10 * MiB + 1), { expect: 413, edge: true }),
    postText('size', 'body of 32 MiB, refused while still uploading', Buffer.alloc(32 * MiB, 0x20), { expect: 413, edge: true }),
    postText('size', '10^5 unclosed [', '['.repeat(100_000), { expect: 400 }),
    postText('size', '10^5 nested arrays', nestedArrays(100_000), { expect: 400 }),
    postText('size', '10^6 nested arrays', nestedArrays(1_000_000), { expect: 400 }),
    postText('size', '10^5 nested objects', `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`, { expect: 400 }),
    postText('size', 'valid prompt, 10^5 nested arrays in an unknown field', `{"user_prompt":"A quiet harbour","x":${nestedArrays(100_000)}}`, { expect: 400 }),
    postText('size', 'valid prompt, 10^5 nested arrays, with an Idempotency-Key', `{"user_prompt":"A quiet harbour","x":${nestedArrays(100_000)}}`, {
      expect: 400,
      headers: { 'idempotency-key': `deep-${randomUUID()}` },
    }),
    postText('size', 'valid prompt, 64 levels in an unknown field (the limit)', `{"user_prompt":"A quiet harbour","x":${nestedArrays(63)}}`, { expect: 200 }),
    postText('size', 'valid prompt, 65 levels in an unknown field', `{"user_prompt":"A quiet harbour","x":${nestedArrays(64)}}`, { expect: 400 }),
    postJson('size', 'deep value in a known field', withPrompt({ image_url: JSON.parse(nestedArrays(50)) }), { expect: 400 }),
    postJson('size', '100,000 unknown keys, with an Idempotency-Key', { ...VALID, ...Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i])) }, {
      expect: 200,
      headers: { 'idempotency-key': `wide-${randomUUID()}` },
    }),
    postJson('size', 'an array of 10^6 zeros in an unknown field', { ...VALID, x: new Array(1_000_000).fill(0) }, { expect: 200 }),
    postJson('size', 'a 100,000-character key', { ...VALID, ['k'.repeat(100_000)]: 1 }, { expect: 200 }),
    postJson('size', 'image_url of 2,049 characters', withPrompt({ image_url: `https://example.com/${'a'.repeat(2029)}` }), { expect: 400 }),
  );

  // Prototype pollution: JSON.parse makes `__proto__` an own key; nothing may treat it as a prototype.
  add(
    postText('prototype', '__proto__ at the top', '{"user_prompt":"A quiet harbour","__proto__":{"polluted":"yes"}}', { expect: 200 }),
    postText('prototype', 'constructor.prototype at the top', '{"user_prompt":"A quiet harbour","constructor":{"prototype":{"polluted":"yes"}}}', { expect: 200 }),
    postText('prototype', 'prototype at the top', '{"user_prompt":"A quiet harbour","prototype":{"polluted":"yes"}}', { expect: 200 }),
    postText('prototype', '__proto__ null', '{"user_prompt":"A quiet harbour","__proto__":null}', { expect: 200 }),
    postText('prototype', 'the prompt only inside __proto__ (not inherited: missing)', '{"__proto__":{"user_prompt":"A quiet harbour"}}', { expect: 400 }),
    postText('prototype', 'loop only inside __proto__ beside an end frame (not inherited)', '{"user_prompt":"A quiet harbour","image_end_url":"https://example.com/b.png","__proto__":{"loop":true}}', { expect: 200 }),
    postText('prototype', '__proto__ as a keyframe', '{"user_prompt":"A quiet harbour","image_url":{"__proto__":{"length":5}}}', { expect: 400 }),
    postText('prototype', '__proto__ nested deep in an unknown field', '{"user_prompt":"A quiet harbour","a":{"b":[{"__proto__":{"polluted":"yes"}}]}}', { expect: 200 }),
    postText('prototype', 'toString and valueOf overridden', '{"user_prompt":"A quiet harbour","toString":"x","valueOf":1,"hasOwnProperty":null}', { expect: 200 }),
    postText('prototype', '__proto__ with a prompt of the wrong type', '{"__proto__":{"polluted":"yes"},"user_prompt":{"__proto__":"x"}}', { expect: 400 }),
    { group: 'prototype', name: 'pollution keys in the query string', method: 'POST', path: '/luma/generations?__proto__[polluted]=1&constructor[prototype][polluted]=1', body: VALID_TEXT, expect: 200 },
    { group: 'prototype', name: 'headers named __proto__ and constructor', method: 'POST', path: '/luma/generations', body: VALID_TEXT, headers: { ['__proto__']: 'polluted', constructor: 'x', hasownproperty: 'x' }, expect: 200 },
  );

  // Unicode in the prompt: length is counted in code points, like the upstream counts it.
  add(
    postText('unicode', 'lone high surrogate \\ud800', '{"user_prompt":"A quiet \\ud800 harbour"}', { expect: 200 }),
    postText('unicode', 'lone low surrogate \\udfff', '{"user_prompt":"A quiet \\udfff harbour"}', { expect: 200 }),
    postText('unicode', 'reversed surrogate pair', '{"user_prompt":"A quiet \\udc00\\ud800 harbour"}', { expect: 200 }),
    postText('unicode', 'only lone surrogates', '{"user_prompt":"\\ud800\\ud800\\ud800"}', { expect: 200 }),
    postJson('unicode', 'RTL override', { user_prompt: 'A quiet \u202eruobrah\u202c at dawn' }, { expect: 200 }),
    postJson('unicode', 'only zero-width characters (not whitespace: accepted)', { user_prompt: '\u200b\u200c\u200d' }, { expect: 200 }),
    postJson('unicode', 'only BOMs (trimmed: too short)', { user_prompt: '\ufeff\ufeff\ufeff' }, { expect: 400 }),
    postJson('unicode', 'only no-break and ideographic spaces (trimmed: too short)', { user_prompt: '\u00a0\u3000\u2003' }, { expect: 400 }),
    postJson('unicode', 'emoji', { user_prompt: 'A 🐙 in the harbour 🌅' }, { expect: 200 }),
    postJson('unicode', 'ZWJ sequences and flags', { user_prompt: '👩🏽‍🚀👨‍👩‍👧‍👦🇺🇦' }, { expect: 200 }),
    postJson('unicode', 'NUL in the prompt', { user_prompt: 'A quiet\u0000harbour' }, { expect: 200 }),
    postJson('unicode', 'every C0 control character', { user_prompt: Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('') + 'abc' }, { expect: 200 }),
    postJson('unicode', 'line and paragraph separators', { user_prompt: 'A quiet\u2028harbour\u2029at dawn' }, { expect: 200 }),
    postJson('unicode', 'combining marks (3 letters, 9 code points)', { user_prompt: 'e\u0301\u0302a\u0301\u0302o\u0301\u0302' }, { expect: 200 }),
    postJson('unicode', 'exactly 5,000 astral characters (10,000 UTF-16 units)', { user_prompt: '😀'.repeat(5000) }, { expect: 200 }),
    postJson('unicode', '5,001 astral characters', { user_prompt: '😀'.repeat(5001) }, { expect: 400 }),
    postJson('unicode', 'two astral characters (4 UTF-16 units, 2 code points)', { user_prompt: '😀😀' }, { expect: 400 }),
    postJson('unicode', 'three astral characters', { user_prompt: '😀😀😀' }, { expect: 200 }),
    postJson('unicode', 'zero-width character in a key', { 'user_prompt\u200b': 'A quiet harbour' }, { expect: 400 }),
    postJson('unicode', 'full-width key', { 'ｕｓｅｒ_ｐｒｏｍｐｔ': 'A quiet harbour' }, { expect: 400 }),
    postJson('unicode', 'IDN keyframe host', withPrompt({ image_url: 'https://exämple.com/ä.png' }), { expect: 200 }),
    postJson('unicode', 'RTL override in a keyframe URL', withPrompt({ image_url: 'https://example.com/\u202egnp.exe' }), { expect: 200 }),
  );
  for (const [index, text] of NAUGHTY.entries()) add(postJson('unicode', `naughty string #${index} as the prompt`, { user_prompt: text }));

  // Headers: Idempotency-Key, Authorization, injection, size.
  const key = (label: string) => `${label}-${randomUUID()}`;
  const bearer = (value: string) => ({ authorization: value });
  add(
    postText('headers', 'Idempotency-Key of 255 characters', VALID_TEXT, { headers: { 'idempotency-key': key('k').padEnd(255, 'k') }, expect: 200 }),
    postText('headers', 'Idempotency-Key of 256 characters', VALID_TEXT, { headers: { 'idempotency-key': key('k').padEnd(256, 'k') }, expect: 400, code: 'invalid_request' }),
    postText('headers', 'Idempotency-Key of 300 characters', VALID_TEXT, { headers: { 'idempotency-key': 'k'.repeat(300) }, expect: 400 }),
    postText('headers', 'empty Idempotency-Key', VALID_TEXT, { headers: { 'idempotency-key': '' }, expect: 400 }),
    postText('headers', 'Idempotency-Key with a space', VALID_TEXT, { headers: { 'idempotency-key': 'a b' }, expect: 400 }),
    postText('headers', 'Idempotency-Key with Latin-1 bytes', VALID_TEXT, { headers: { 'idempotency-key': 'caf\u00e9' }, expect: 400 }),
    postText('headers', 'Idempotency-Key carrying an encoded CRLF', VALID_TEXT, {
      headers: { 'idempotency-key': key('%0d%0aSet-Cookie:pwned=1') },
      expect: 200,
      check: (answer) => expect(answer.headers['set-cookie']).toBeUndefined(),
    }),
    raw('headers', 'CRLF in Idempotency-Key (becomes a second header)', rawRequest('POST /luma/generations HTTP/1.1', ['Content-Type: application/json', `Idempotency-Key: ${key('crlf')}\r\nX-Injected: yes`], VALID_TEXT), {
      expect: 200,
      check: (answer) => expect(answer.headers['x-injected']).toBeUndefined(),
    }),
    raw('headers', 'bare CR in Idempotency-Key', rawRequest('POST /luma/generations HTTP/1.1', ['Content-Type: application/json', 'Idempotency-Key: abc\rSet-Cookie: x'], VALID_TEXT), { parser: true, expect: 400 }),
    raw('headers', 'bare LF in Idempotency-Key', rawRequest('POST /luma/generations HTTP/1.1', ['Content-Type: application/json', 'Idempotency-Key: abc\nSet-Cookie: x'], VALID_TEXT), { parser: true, expect: 400 }),
    raw('headers', 'NUL in a header value', rawRequest('POST /luma/generations HTTP/1.1', ['Content-Type: application/json', 'Idempotency-Key: abc\x00def'], VALID_TEXT), { parser: true, expect: 400 }),
    raw('headers', 'obsolete line folding', rawRequest('POST /luma/generations HTTP/1.1', ['Content-Type: application/json', 'Idempotency-Key: abc', ' def'], VALID_TEXT), { parser: true, expect: 400 }),
    raw('headers', 'space before the colon', rawRequest('POST /luma/generations HTTP/1.1', ['Content-Type : application/json'], VALID_TEXT), { parser: true, expect: 400 }),
    raw('headers', 'UTF-8 emoji in Idempotency-Key', rawRequest('POST /luma/generations HTTP/1.1', ['Content-Type: application/json', `Idempotency-Key: ${Buffer.from('🔑', 'utf8').toString('latin1')}`], VALID_TEXT), { expect: 400 }),
    raw('headers', 'two Idempotency-Keys (joined with ", ": invalid)', rawRequest('POST /luma/generations HTTP/1.1', ['Content-Type: application/json', 'Idempotency-Key: a', 'Idempotency-Key: b'], VALID_TEXT), { expect: 400 }),
    // Two Authorization headers are joined with ", ", as HTTP combines a repeated field: no valid key, whichever comes first.
    raw('headers', 'two Authorizations, the valid one second', rawRequest('POST /luma/generations HTTP/1.1', ['Content-Type: application/json', 'Authorization: Bearer not-the-key-0123456789', `Authorization: Bearer ${API_KEY}`], VALID_TEXT, { auth: false }), { expect: 401 }),
    raw('headers', 'two Authorizations, the valid one first', rawRequest('POST /luma/generations HTTP/1.1', ['Content-Type: application/json', `Authorization: Bearer ${API_KEY}`, 'Authorization: Bearer not-the-key-0123456789'], VALID_TEXT, { auth: false }), { expect: 401 }),
    raw('headers', 'no Host header', Buffer.from(`GET /luma/generations/${UUID} HTTP/1.1\r\nConnection: close\r\nAuthorization: Bearer ${API_KEY}\r\n\r\n`, 'latin1'), { parser: true, expect: 400 }),
    raw('headers', 'two Host headers', rawRequest(`GET /luma/generations/${UUID} HTTP/1.1`, ['Host: evil.example']), { expect: 404 }),
    raw('headers', 'Expect: 100-continue', rawRequest('POST /luma/generations HTTP/1.1', ['Content-Type: application/json', 'Expect: 100-continue'], VALID_TEXT), { expect: 200 }),
    postText('headers', 'X-HTTP-Method-Override: DELETE (ignored)', VALID_TEXT, { headers: { 'x-http-method-override': 'DELETE' }, expect: 200 }),
    postText('headers', 'X-Forwarded-For and X-Real-IP spoofed', VALID_TEXT, { headers: { 'x-forwarded-for': '127.0.0.1, ::1', 'x-real-ip': '10.0.0.1' }, expect: 200 }),
    postText('headers', 'Authorization: the key with no scheme', VALID_TEXT, { headers: bearer(API_KEY), expect: 401 }),
    postText('headers', 'Authorization: Basic', VALID_TEXT, { headers: bearer(`Basic ${Buffer.from(`${API_KEY}:`).toString('base64')}`), expect: 401 }),
    postText('headers', 'Authorization: empty', VALID_TEXT, { headers: bearer(''), expect: 401 }),
    postText('headers', 'Authorization: "Bearer" alone', VALID_TEXT, { headers: bearer('Bearer'), expect: 401 }),
    postText('headers', 'Authorization: Bearer and a 10 KB key', VALID_TEXT, { headers: bearer(`Bearer ${'k'.repeat(10_240)}`), expect: 401 }),
    postText('headers', 'Authorization: Bearer and a 15-character key', VALID_TEXT, { headers: bearer('Bearer 0123456789abcde'), expect: 401 }),
    postText('headers', 'Authorization: the key then junk', VALID_TEXT, { headers: bearer(`Bearer ${API_KEY} junk`), expect: 401 }),
    postText('headers', 'Authorization: two bearer keys', VALID_TEXT, { headers: bearer(`Bearer ${API_KEY}, Bearer ${API_KEY}`), expect: 401 }),
    postText('headers', 'Authorization: Token scheme', VALID_TEXT, { headers: bearer(`Token ${API_KEY}`), expect: 401 }),
    postText('headers', 'Authorization: lower-case bearer (schemes are case-insensitive)', VALID_TEXT, { headers: bearer(`bearer ${API_KEY}`), expect: 200 }),
    postText('headers', 'Authorization: tab and trailing spaces', VALID_TEXT, { headers: bearer(`Bearer\t${API_KEY}  `), expect: 200 }),
    postText('headers', 'Authorization: Latin-1 key', VALID_TEXT, { headers: bearer(`Bearer ${'\u00e9'.repeat(20)}`), expect: 401 }),
    postText('headers', 'a 20 KB header', VALID_TEXT, { headers: { 'x-big': 'a'.repeat(20_000) }, parser: true, expect: 431 }),
    postText('headers', 'a 14 KB header (just under the limit)', VALID_TEXT, { headers: { 'x-big': 'a'.repeat(14_000) }, expect: 200 }),
    postText('headers', '1,500 small headers (over 16 KB together)', VALID_TEXT, {
      headers: Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`x-h${i}`, 'abcdef'])),
      parser: true,
      expect: 431,
    }),
    postText('headers', '300 small headers', VALID_TEXT, { headers: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`x-h${i}`, 'v'])), expect: 200 }),
  );

  // Idempotency, in order: first use, replay (other key order), other body, and __proto__ in the fingerprint.
  const first = key('first');
  const proto = key('proto');
  const remembered = new Map<string, string>();
  add(
    postText('idempotency', 'first use of a key', '{"user_prompt":"A quiet harbour","loop":false}', {
      headers: { 'idempotency-key': first },
      expect: 200,
      check: (_answer, body) => void remembered.set(first, body.id),
    }),
    postText('idempotency', 'the same body, keys reordered: replayed', '{ "loop": false,\n "user_prompt": "A quiet harbour" }', {
      headers: { 'idempotency-key': first },
      expect: 200,
      check: (answer, body) => {
        expect(answer.headers['idempotent-replayed']).toBe('true');
        expect(body.id).toBe(remembered.get(first));
      },
    }),
    postText('idempotency', 'the same key, another body', '{"user_prompt":"A quiet harbour","loop":true}', { headers: { 'idempotency-key': first }, expect: 422, code: 'idempotency_key_reused' }),
    postText('idempotency', 'a body with an own __proto__ key', '{"user_prompt":"A quiet harbour","__proto__":{"x":1}}', { headers: { 'idempotency-key': proto }, expect: 200 }),
    postText('idempotency', 'the same key without the __proto__ key (another body)', '{"user_prompt":"A quiet harbour"}', { headers: { 'idempotency-key': proto }, expect: 422 }),
    postText('idempotency', 'the same key with __proto__ again: replayed', '{"__proto__":{"x":1},"user_prompt":"A quiet harbour"}', {
      headers: { 'idempotency-key': proto },
      expect: 200,
      check: (answer) => expect(answer.headers['idempotent-replayed']).toBe('true'),
    }),
    postText('idempotency', 'an invalid body with a key', '{"user_prompt":1}', { headers: { 'idempotency-key': key('invalid') }, expect: 400 }),
  );

  // Content types: JSON and its +json relatives pass, anything else is 415; the charset is not read.
  const typed = (name: string, contentType: string | null, body: string | Buffer, expected: number, via: Via = 'fetch') =>
    postText('content-type', name, body, { headers: { 'content-type': contentType }, expect: expected, via, code: expected === 415 ? 'unsupported_media_type' : undefined });
  const multipart = '--x\r\nContent-Disposition: form-data; name="user_prompt"\r\n\r\nA quiet harbour\r\n--x--\r\n';
  add(
    typed('text/plain', 'text/plain', VALID_TEXT, 415),
    typed('multipart/form-data', 'multipart/form-data; boundary=x', multipart, 415),
    typed('application/x-www-form-urlencoded', 'application/x-www-form-urlencoded', 'user_prompt=A+quiet+harbour', 415),
    typed('application/xml', 'application/xml', '<user_prompt>A quiet harbour</user_prompt>', 415),
    typed('text/json', 'text/json', VALID_TEXT, 415),
    typed('*/*', '*/*', VALID_TEXT, 415),
    typed('application/jsonx', 'application/jsonx', VALID_TEXT, 415),
    typed('application/json with charset=utf-16, UTF-16 bytes', 'application/json; charset=utf-16', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(VALID_TEXT, 'utf16le')]), 400),
    typed('application/json with charset=utf-16, UTF-8 bytes (charset ignored)', 'application/json; charset=utf-16', VALID_TEXT, 200),
    typed('no Content-Type (read as JSON)', null, VALID_TEXT, 200, 'http'),
    typed('empty Content-Type (read as JSON)', '', VALID_TEXT, 200, 'http'),
    typed('application/json;', 'application/json;', VALID_TEXT, 200),
    typed('application/json; junk', 'application/json; junk=";;\\"', VALID_TEXT, 200),
    typed('APPLICATION/JSON', 'APPLICATION/JSON', VALID_TEXT, 200),
    typed('application/vnd.api+json', 'application/vnd.api+json', VALID_TEXT, 200),
    typed('application/json-seq (a word boundary after json)', 'application/json-seq', VALID_TEXT, 200),
    typed('application/json, text/plain', 'application/json, text/plain', VALID_TEXT, 200),
    typed('application/json with a 4 KB parameter', `application/json; x=${'y'.repeat(4096)}`, VALID_TEXT, 200),
    postText('content-type', 'gzip body with Content-Encoding: gzip (not decoded)', gzipSync(VALID_TEXT), { headers: { 'content-encoding': 'gzip' }, expect: 400 }),
    postText('content-type', 'gzip bomb, 100 MiB of zeros in 100 KB', gzipSync(Buffer.alloc(100 * MiB)), { headers: { 'content-encoding': 'gzip' }, expect: 400 }),
    raw('content-type', 'chunked transfer encoding', rawRequest('POST /luma/generations HTTP/1.1', ['Content-Type: application/json', 'Transfer-Encoding: chunked'], `${VALID_TEXT.length.toString(16)}\r\n${VALID_TEXT}\r\n0\r\n\r\n`, { length: false }), { expect: 200 }),
  );

  // Transport: what Node's HTTP parser refuses before the API sees anything.
  add(
    raw('transport', 'two different Content-Lengths', rawRequest('POST /luma/generations HTTP/1.1', ['Content-Type: application/json', 'Content-Length: 3'], VALID_TEXT), { parser: true, expect: 400 }),
    raw('transport', 'two equal Content-Lengths', rawRequest('POST /luma/generations HTTP/1.1', ['Content-Type: application/json', `Content-Length: ${VALID_TEXT.length}`], VALID_TEXT), { parser: true, expect: 400 }),
    raw('transport', 'Content-Length and chunked', rawRequest('POST /luma/generations HTTP/1.1', ['Content-Type: application/json', 'Transfer-Encoding: chunked'], '0\r\n\r\n'), { parser: true, expect: 400 }),
    raw('transport', 'bad chunk size', rawRequest('POST /luma/generations HTTP/1.1', ['Content-Type: application/json', 'Transfer-Encoding: chunked'], 'zz\r\nab\r\n0\r\n\r\n', { length: false }), { parser: true, expect: 400 }),
    raw('transport', 'negative Content-Length', rawRequest('POST /luma/generations HTTP/1.1', ['Content-Length: -1'], ''), { parser: true, expect: 400 }),
    raw('transport', 'Content-Length beyond 2^64', rawRequest('POST /luma/generations HTTP/1.1', ['Content-Length: 99999999999999999999999'], ''), { parser: true, expect: 400 }),
    raw('transport', 'Content-Length shorter than the body (the rest is a malformed second request)', rawRequest('POST /luma/generations HTTP/1.1', ['Content-Type: application/json', 'Content-Length: 5'], VALID_TEXT, { length: false }), { parser: true, expect: 400 }),
    raw('transport', 'a TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a]), { parser: true, expect: 400 }),
    raw('transport', 'the HTTP/2 preface', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), { parser: true, expect: 400 }),
    raw('transport', 'an HTTP/1.1 request line only', Buffer.from('GET / HTTP/1.1\r\n\r\n'), { parser: true, expect: 400 }),
  );

  // Upload requests, and upload references in generations.
  const upload = (name: string, value: unknown, expected: number) => ({
    group: 'uploads',
    name,
    method: 'POST',
    path: '/luma/uploads',
    body: typeof value === 'string' ? value : JSON.stringify(value),
    expect: expected,
    ...(expected === 400 && { code: 'invalid_request' }),
  });
  add(
    upload('a valid request', { content_type: 'image/png', size_bytes: 1234 }, 200),
    upload('size 1e309 (Infinity once parsed)', '{"content_type":"image/png","size_bytes":1e309}', 400),
    upload('size -1', { content_type: 'image/png', size_bytes: -1 }, 400),
    upload('size 2^53', { content_type: 'image/png', size_bytes: 2 ** 53 }, 400),
    upload('size as a string', { content_type: 'image/png', size_bytes: '1234' }, 400),
    upload('size true', { content_type: 'image/png', size_bytes: true }, 400),
    upload('size null', { content_type: 'image/png', size_bytes: null }, 400),
    upload('content type with parameters', { content_type: 'image/png; charset=utf-8', size_bytes: 10 }, 400),
    upload('SVG (scriptable, not taken)', { content_type: 'image/svg+xml', size_bytes: 10 }, 400),
    upload('HTML', { content_type: 'text/html', size_bytes: 10 }, 400),
    upload('fields under __proto__', '{"__proto__":{"content_type":"image/png","size_bytes":10}}', 400),
    upload('constructor.prototype pollution', '{"content_type":"image/png","size_bytes":10,"constructor":{"prototype":{"polluted":true}}}', 200),
    upload('an array', [{ content_type: 'image/png', size_bytes: 10 }], 400),
    postJson('uploads', 'a generation naming an upload that does not exist', withPrompt({ image_url: `upload:${UUID}` }), { expect: 400, code: 'invalid_request' }),
    postJson('uploads', 'a generation naming an upload by a path', withPrompt({ image_url: 'upload:../../inputs/x' }), { expect: 400 }),
    postJson('uploads', 'a generation naming an upload as the end frame, with loop', withPrompt({ image_end_url: `upload:${UUID}`, loop: true }), { expect: 400 }),
  );

  // Keyframes: Base64 bare and as data URIs, polyglots, bombs, and URLs.
  const frame = (name: string, value: unknown, expected?: number, field = 'image_url') =>
    postJson('keyframes', name, withPrompt({ [field]: value }), expected === undefined ? {} : { expect: expected });
  const htmlTail = Buffer.from('<html><script>alert(1)</script></html>');
  const zipTail = Buffer.from('PK\u0003\u0004 junk that a zip reader would look at');
  const bomb = (length: number) => `data:image/png;base64,${spreadWithWhitespace(TINY_PNG.toString('base64'), length)}`;
  add(
    frame('bare Base64 of text', Buffer.from('hello world, not an image').toString('base64'), 400),
    frame('data URI of text/plain', dataUri(Buffer.from('hello'), 'text/plain'), 400),
    frame('image/png data URI of text', dataUri(Buffer.from('hello world')), 400),
    frame('image/svg+xml data URI of an SVG', dataUri(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'), 'image/svg+xml'), 400),
    frame('PNG signature then junk (no IHDR)', dataUri(Buffer.concat([PNG_SIGNATURE, htmlTail])), 400),
    frame('a whole PNG, built here', dataUri(completePng(64, 48)), 200),
    frame('PNG header then HTML (polyglot: the file must end at IEND)', dataUri(png(64, 48, { tail: htmlTail })), 400),
    frame('whole PNG then HTML after IEND (polyglot)', dataUri(Buffer.concat([completePng(64, 48), htmlTail])), 400),
    frame('PNG header then a ZIP (polyglot)', png(64, 48, { tail: zipTail }).toString('base64'), 400),
    frame('whole PNG then a ZIP after IEND (polyglot)', Buffer.concat([completePng(64, 48), zipTail]).toString('base64'), 400),
    frame('PNG with HTML in a text chunk (a well-formed PNG)', dataUri(completePng(64, 48, [pngChunk('tEXt', Buffer.concat([Buffer.from('Comment\0'), htmlTail]))])), 200),
    frame('PNG declaring 2147483647 x 2147483647, HTML behind the header, no IDAT or IEND', dataUri(png(0x7fffffff, 0x7fffffff, { tail: htmlTail })), 400),
    frame('JPEG with HTML in APP1 (a well-formed JPEG)', dataUri(jpegWith(htmlTail), 'image/jpeg'), 200),
    frame('JPEG then HTML after EOI (polyglot)', dataUri(jpegWith(Buffer.from('Exif\0\0'), htmlTail), 'image/jpeg'), 400),
    frame('JPEG then zero padding after EOI', dataUri(jpegWith(Buffer.from('Exif\0\0'), Buffer.alloc(64)), 'image/jpeg'), 200),
    frame('JPEG header without a scan or EOI', dataUri(jpegWith(htmlTail).subarray(0, 2 + 4 + htmlTail.length + 19), 'image/jpeg'), 400),
    frame('whole PNG declaring 8192 x 8192 (never decoded: accepted)', dataUri(completePng(8192, 8192)), 200),
    frame('whole PNG declaring 8193 x 1 (over 8192)', dataUri(completePng(8193, 1)), 400),
    frame('whole PNG declaring 65535 x 65535', dataUri(completePng(65535, 65535)), 400),
    frame('whole PNG declaring 8192 x 8192 with a deflate bomb IDAT (never decoded: accepted)', dataUri(png(8192, 8192, { tail: Buffer.concat([pngChunk('IDAT', deflateSync(Buffer.alloc(16 * MiB))), pngChunk('IEND', Buffer.alloc(0))]) })), 200),
    frame('PNG declaring 2^31 x 1 (over the PNG limit)', dataUri(completePng(0x80000000, 1)), 400),
    frame('PNG declaring 0 x 0', dataUri(completePng(0, 0)), 400),
    frame('PNG with a wrong IHDR CRC', dataUri(completePng(64, 48, [], { crc: 0xdeadbeef })), 400),
    frame('PNG with bit depth 3', dataUri(completePng(64, 48, [], { bitDepth: 3 })), 400),
    frame('WebP, bare Base64', TINY_WEBP.toString('base64'), 200),
    frame('PNG, Base64url alphabet', completePng(64, 48, [pngChunk('zzZz', Buffer.from([0xfb, 0xff, 0xfe]))]).toString('base64url'), 200),
    frame('PNG, Base64 without padding', completePng(64, 48, [pngChunk('zzZz', Buffer.from([1]))]).toString('base64').replace(/=+$/, ''), 200),
    frame('mixed Base64 alphabets', `${TINY_PNG.toString('base64')}-_+/`, 400),
    frame('invalid Base64 characters', `${TINY_PNG.toString('base64').slice(0, 40)}!@#$%^&*`, 400),
    frame('only padding', '====', 400),
    frame('data URI without a media type', `data:;base64,${TINY_PNG.toString('base64')}`, 200),
    frame('data URI in capitals', `DATA:IMAGE/PNG;BASE64,${TINY_PNG.toString('base64')}`, 200),
    frame('data URI with parameters', `data:image/png;charset=utf-8;name=a.png;base64,${TINY_PNG.toString('base64')}`, 200),
    frame('data URI without ;base64', `data:image/png,${encodeURIComponent(TINY_PNG.toString('latin1'))}`, 400),
    frame('data URI, empty payload', 'data:image/png;base64,', 400),
    frame('whitespace only', '   ', 400),
    frame('image of exactly 1.5 MiB (the inline limit)', dataUri(pngOfSize(MAX_INLINE_KEYFRAME_BYTES)), 200),
    frame('image of 1.5 MiB + 1', dataUri(pngOfSize(MAX_INLINE_KEYFRAME_BYTES + 1)), 400),
    frame('image of 3 MiB (under the body limit: 400 naming uploads)', dataUri(pngOfSize(3 * MiB)), 400),
    frame('image of 6 MiB (8 MiB of Base64: Lambda refuses the event)', dataUri(pngOfSize(6 * MiB)), 413),
    frame('Base64 bomb: a tiny PNG spread with whitespace to 4 MB', bomb(4_000_000), 200),
    frame('Base64 bomb: spread to 4.2 MiB (over the body limit)', bomb(4.2 * MiB), 413),
    frame('Base64 of Base64 of a PNG', Buffer.from(TINY_PNG.toString('base64')).toString('base64'), 400),
    postJson('keyframes', 'two keyframes of 1.5 MiB each (the most inline: 4 MiB of Base64)', withPrompt({ image_url: dataUri(pngOfSize(MAX_INLINE_KEYFRAME_BYTES)), image_end_url: dataUri(pngOfSize(MAX_INLINE_KEYFRAME_BYTES)) }), { expect: 200 }),
    postJson('keyframes', 'two keyframes of 3.5 MiB each (a 9.3 MiB body: Lambda refuses the event)', withPrompt({ image_url: dataUri(pngOfSize(3.5 * MiB)), image_end_url: dataUri(pngOfSize(3.5 * MiB)) }), { expect: 413 }),
    postJson('keyframes', 'two keyframes of 5 MiB each (13.3 MiB of Base64: API Gateway refuses it)', withPrompt({ image_url: dataUri(pngOfSize(5 * MiB)), image_end_url: dataUri(pngOfSize(5 * MiB)) }), { expect: 413, edge: true }),
    frame('an end frame, PNG polyglot', dataUri(Buffer.concat([completePng(64, 48), htmlTail])), 400, 'image_end_url'),
    frame('an end frame, a whole PNG', dataUri(completePng(64, 48)), 200, 'image_end_url'),
    frame('an end frame of text', Buffer.from('not an image at all').toString('base64'), 400, 'image_end_url'),
    frame('file: URL', 'file:///etc/passwd', 400),
    frame('javascript: URL', 'javascript:alert(1)', 400),
    frame('ftp: URL', 'ftp://example.com/a.png', 400),
    frame('scheme-relative URL', '//example.com/a.png', 400),
    frame('URL with credentials', 'https://user:secret@example.com/a.png', 400),
    frame('http:///a.png (WHATWG reads the host as a.png)', 'http:///a.png', 200),
    frame('link-local metadata address (the upstream fetches it, not the gateway)', 'http://169.254.169.254/latest/meta-data/'),
    frame('loopback IPv6 literal', 'http://[::1]:8080/a.png'),
    frame('URL with an encoded NUL', 'https://example.com/a%00.png'),
    frame('URL with spaces around it (trimmed)', '  https://example.com/a.png  ', 200),
  );
  // Built as plain cases rather than through the schema's verdict: the verdict is what they test.
  // The fixture's largest headers (5 MB) are cut to what a body the function receives can hold: the parser
  // still meets a million and more repeats (the unit test runs them whole, against the schema).
  for (const header of DATA_URI_HEADERS) {
    const times = Math.min(header.times, Math.floor((MAX_BODY_BYTES - 64 * 1024) / header.repeat.length));
    const uri = `${header.head}${header.repeat.repeat(times)}${header.tail}${TINY_PNG.toString('base64')}`;
    add({
      group: 'keyframes',
      name: `data URI header: ${header.name}${times < header.times ? ` (cut to ${times} repeats, under the body limit)` : ''}`,
      method: 'POST',
      path: '/luma/generations',
      body: JSON.stringify(withPrompt({ image_url: uri })),
      expect: 400,
      code: 'invalid_request',
      check: (_answer, body) => expect(body.error.details).toEqual([{ field: 'image_url', message: expect.stringMatching(/^data URI must be/) }]),
    });
  }

  return cases;
}

// -------------------------------------------------------------------------------------------- sending

function headersOf(c: Pick<HostileCase, 'headers' | 'body'>): Record<string, string> {
  const headers: Record<string, string> = { authorization: `Bearer ${API_KEY}` };
  if (c.body !== undefined) headers['content-type'] = 'application/json';
  for (const [name, value] of Object.entries(c.headers ?? {})) {
    if (value === null) delete headers[name];
    else headers[name] = value;
  }
  return headers;
}

async function viaFetch(c: HostileCase): Promise<Answer> {
  const response = await fetch(gateway.url + c.path, {
    method: c.method,
    headers: headersOf(c),
    body: c.body,
    redirect: 'manual',
  });
  const body = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: Object.fromEntries(response.headers), body };
}

function viaHttp(c: HostileCase): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(gateway.url + c.path, { method: c.method, headers: headersOf(c) }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: Object.fromEntries(Object.entries(response.headers).map(([name, value]) => [name, String(value)])),
          body: Buffer.concat(chunks),
        }),
      );
    });
    request.on('error', reject);
    request.end(c.body);
  });
}

/** Writes the bytes, reads until the server closes (every raw request says `Connection: close`). */
function viaRaw(bytes: Buffer): Promise<Answer> {
  const { hostname, port } = new URL(gateway.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // A server that answers and closes while we still write makes a reset; what it sent still counts.
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error);
    });
    socket.on('close', () => resolve(parseResponse(Buffer.concat(chunks))));
    // Written, not ended: a client that half-closes first gets no answer from Node (it aborts the request).
    socket.write(bytes);
  });
}

/** The final response in the bytes (interim 1xx skipped); `closed` when there is none. */
function parseResponse(bytes: Buffer): Answer {
  let rest = bytes;
  for (let interim = 0; interim < 5; interim++) {
    const headEnd = rest.indexOf('\r\n\r\n');
    if (headEnd === -1) return { status: 0, headers: {}, body: rest, closed: true };
    const [statusLine = '', ...lines] = rest.toString('latin1', 0, headEnd).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
    const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
    rest = rest.subarray(headEnd + 4);
    if (status >= 100 && status < 200) continue;
    return { status, headers, body: headers['transfer-encoding'] === 'chunked' ? dechunk(rest) : rest };
  }
  throw new Error('more than five interim responses');
}

function dechunk(bytes: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const lineEnd = bytes.indexOf('\r\n', offset);
    const size = parseInt(bytes.toString('latin1', offset, lineEnd), 16);
    if (lineEnd === -1 || !(size > 0)) break;
    parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** Requests in flight at once: fewer than the API function's 4 local environments, so none waits for one. */
const inFlight = concurrencyLimit(3);

async function send(c: HostileCase): Promise<Answer> {
  const once = () => inFlight(() => (c.via === 'raw' ? viaRaw(c.raw!) : c.via === 'http' ? viaHttp(c) : viaFetch(c)));
  let answer = await once();
  // A 504 is the local API's 29 s limit (API Gateway's) reached on a loaded machine, not an answer to the
  // input: the case is sent once more. An input that hangs the gateway times out twice, and fails.
  if (answer.status === 504) {
    tally.timedOutOnce.push(`${c.group}: ${c.name}`);
    answer = await once();
  }
  tally.requests++;
  const line = `${c.group}: ${c.name} → ${answer.status} ${answer.body.toString('utf8', 0, 300)}`;
  if (overLambdaEvent(c)) tally.overLambdaEvent.push(line);
  else if (answer.status >= 500) tally.serverErrors.push(line);
  return answer;
}

function concurrencyLimit(limit: number): <T>(run: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (run) => {
    while (active >= limit) await new Promise<void>((resume) => waiting.push(resume));
    active++;
    try {
      return await run();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** The event's headers, request context and other fields around the body: a generous allowance. */
const EVENT_ENVELOPE_BYTES = 4096;

/** About the size of the API Gateway event this case makes: the body Base64-encoded (every media type is binary). */
function lambdaEventBytes(c: HostileCase): number {
  const bytes = c.via === 'raw' ? c.raw! : Buffer.from(c.body ?? '');
  return base64Length(bytes.length) + jsonBytes({ headers: headersOf(c) }) + EVENT_ENVELOPE_BYTES;
}

/** Lambda refuses this request before the function runs (API Gateway's own 10 MiB refusal, `edge`, comes first). */
function overLambdaEvent(c: HostileCase): boolean {
  return !c.edge && lambdaEventBytes(c) > LAMBDA_SYNC_PAYLOAD_BYTES;
}

// ------------------------------------------------------------------------------------------- checking

const STACK_FRAMES = [/\bat .+\(.*:\d+:\d+\)/, /\bat (async )?(file:\/\/)?\/\S+:\d+:\d+/];
const FILE_PATHS = /\/work\/|node_modules|\/tmp\/|hostile-it-/;

/** Nothing secret or internal in an answer, unless the client sent that very text (a prompt is echoed). */
function expectNothingLeaked(answer: Answer, sent: string): void {
  const text = `${JSON.stringify(answer.headers)}\n${answer.body.toString('utf8')}`;
  expect(text.includes(API_KEY), 'the API key is echoed').toBe(false);
  expect(text.includes(UPSTREAM_KEY), 'the upstream key is echoed').toBe(false);
  for (const pattern of [...STACK_FRAMES, FILE_PATHS]) {
    const match = pattern.exec(text)?.[0];
    if (match !== undefined) expect(sent.includes(match), `leaks ${JSON.stringify(match)}`).toBe(true);
  }
}

function sentText(c: HostileCase): string {
  return [c.path, JSON.stringify(c.headers ?? {}), c.raw?.toString('utf8') ?? c.body?.toString() ?? ''].join('\n');
}

function describeAnswer(c: HostileCase, answer: Answer): string {
  return `${c.method} ${c.path.slice(0, 80)} → ${answer.status} ${answer.body.toString('utf8', 0, 400)}`;
}

function checkAnswer(c: HostileCase, answer: Answer): void {
  const what = describeAnswer(c, answer);
  if (c.closes) {
    expect(answer.closed, what).toBe(true);
    return;
  }
  if (overLambdaEvent(c)) {
    // Never the function's answer: API Gateway's REQUEST_TOO_LARGE gateway response, in the API's shape.
    expect(answer.status, what).toBe(413);
    expect(JSON.parse(answer.body.toString('utf8')), what).toEqual({
      error: { code: 'payload_too_large', message: expect.stringContaining(`at most ${MAX_BODY_BYTES} bytes`), details: { request_id: expect.any(String) } },
    });
    return;
  }
  expect(answer.status, what).toBeGreaterThanOrEqual(200);
  expect(answer.status, what).toBeLessThan(500);
  expect(answer.status >= 300 && answer.status < 400, what).toBe(false);
  if (c.expect !== undefined) expect([c.expect].flat(), what).toContain(answer.status);
  expectNothingLeaked(answer, sentText(c));
  if (c.parser) {
    expect(answer.body.length, `${what}: the parser's own answer has no body`).toBe(0);
    return;
  }
  if (c.method === 'HEAD') {
    expect(answer.body.length, what).toBe(0);
    return;
  }
  if (c.edge) {
    expect(answer.status, what).toBe(413);
    expect(answer.body.toString('utf8'), what).toBe('HTTP content length exceeded 10485760 bytes.');
    // The rest of the body is never read: the connection must not carry another request.
    expect(answer.headers.connection, what).toBe('close');
    c.check?.(answer, undefined);
    return;
  }
  if (answer.status === 200 && /^text\/html/.test(String(answer.headers['content-type']))) {
    expect(answer.body.toString('utf8').startsWith('<!doctype html>'), what).toBe(true); // the playground, at /
    return;
  }
  expect(answer.headers['content-type'], what).toMatch(/^application\/json/);
  const body = JSON.parse(answer.body.toString('utf8'));
  if (answer.status < 300) {
    expect(answer.status, what).toBe(200);
    if (c.path === '/openapi.json') {
      expect(body.openapi, what).toBe('3.1.0');
    } else if (c.path.startsWith('/luma/uploads')) {
      expect(body, what).toMatchObject({ method: 'PUT', image_url: expect.stringMatching(/^upload:[0-9a-f-]{36}$/), upload_url: expect.any(String) });
    } else if (c.method === 'GET') {
      // The caller's list (the one GET that answers 200): each entry a generation.
      expect(Object.keys(body).sort(), what).toEqual(['data', 'next_cursor']);
      for (const generation of body.data) publicGenerationSchema.parse(generation);
    } else {
      publicGenerationSchema.parse(body);
    }
  } else {
    expect(body, what).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
    expect(body.error.message.length, what).toBeGreaterThan(0);
    if (c.code) expect(body.error.code, what).toBe(c.code);
  }
  c.check?.(answer, body);
}

// ---------------------------------------------------------------------------------------------- tests

const corpus = buildCorpus();

/** Each named case's answer, once it passed every check: counted from the answers, not from the corpus. */
const checked = new Map<string, number>();
const nameOf = (c: HostileCase) => `${c.group}: ${c.name}`;

describe(`hostile corpus (${corpus.length} cases)`, () => {
  it('names each case once', () => {
    const names = corpus.map(nameOf);
    expect(names.filter((name, index) => names.indexOf(name) !== index)).toEqual([]);
  });

  it('has no case so near Lambda’s 6 MB event limit that the estimate of its event could misjudge it', () => {
    const near = corpus.filter((c) => Math.abs(lambdaEventBytes(c) - LAMBDA_SYNC_PAYLOAD_BYTES) < 64 * 1024);
    expect(near.map((c) => `${c.group}: ${c.name}`)).toEqual([]);
  });

  // A few at a time (vitest's maxConcurrency), except the idempotency cases, which build on each other.
  const named = (c: HostileCase) => [nameOf(c), c] as const;
  const sendAndCheck = async (c: HostileCase) => {
    const answer = await send(c);
    checkAnswer(c, answer);
    checked.set(nameOf(c), answer.status);
  };
  it.concurrent.each(corpus.filter((c) => c.group !== 'idempotency').map(named))('%s', async (_name, c) => sendAndCheck(c));

  it.each(corpus.filter((c) => c.group === 'idempotency').map(named))('%s', async (_name, c) => sendAndCheck(c));

  it('sent every named case and checked its answer: 200 and more of them (SECURITY.md’s figure)', () => {
    expect(corpus.map(nameOf).filter((name) => !checked.has(name)), 'cases never answered, or whose answer failed its checks').toEqual([]);
    expect(checked.size).toBeGreaterThanOrEqual(200);
  });

  it('left no prototype polluted, here or in the gateway', async () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    const { status, body } = await client.create({ user_prompt: 'After the pollution attempts' });
    expect(status).toBe(200);
    expect(body).not.toHaveProperty('polluted');
  });
});

// ------------------------------------------------------------------------------------------ properties

/** A POST answered by the schema's verdict: 400 invalid_request when it refuses, else 200 (or the upstream's own 4xx). */
async function postAndCheck(body: string, headers: Record<string, string | null> = {}): Promise<void> {
  const c: HostileCase = { group: 'property', name: 'property', method: 'POST', path: '/luma/generations', body, headers };
  const answer = await send(c);
  checkAnswer(c, answer);
  const json = JSON.parse(answer.body.toString('utf8'));
  if (Object.keys(headers).length === 0 && schemaVerdict(body) === 400) {
    expect(answer.status, describeAnswer(c, answer)).toBe(400);
    expect(json.error.code).toBe('invalid_request');
  }
}

/** What fetch sends and Node's parser takes in a header value: visible ASCII, space and obs-text (not DEL). */
const headerValue = fc.string({
  unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff })).map((code) => String.fromCharCode(code)),
  maxLength: 300,
});
const promptLike = fc.oneof(fc.string({ minLength: 0, maxLength: 20 }), fc.string({ unit: 'grapheme', minLength: 3, maxLength: 30 }), fc.constant('A quiet harbour'));
const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 10 }), fc.boolean(), fc.constant(null));
const keyframeLike = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  fc.base64String({ maxLength: 200 }),
  fc.base64String({ maxLength: 200 }).map((text) => `data:image/png;base64,${text}`),
  fc.uint8Array({ maxLength: 64 }).map((tail) => dataUri(png(64, 48, { tail: Buffer.from(tail) }))),
  fc.uint8Array({ maxLength: 64 }).map((text) => dataUri(completePng(64, 48, [pngChunk('tEXt', Buffer.from(text))]))),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => dataUri(Buffer.concat([PNG_SIGNATURE, bytes]))),
  fc.string({ maxLength: 30 }).map((path) => `https://example.com/${path}`),
  fc.constantFrom('javascript:alert(1)', 'file:///etc/passwd', 'data:,', 'http://', 'https://a@b@c/', false, true, null),
);
const PROPERTIES = 5;

describe(`fast-check properties (${PROPERTIES} × ${RUNS} runs)`, () => {
  it('any JSON value as the body: a JSON 4xx or a generation, never a 5xx', async () => {
    await fc.assert(fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), (value) => postAndCheck(JSON.stringify(value) ?? 'null')), { numRuns: RUNS });
  });

  it('objects of the schema\'s fields with arbitrary values, plus unknown keys', async () => {
    const body = fc.record(
      {
        user_prompt: fc.oneof(promptLike, anyValue),
        expand_prompt: fc.oneof(fc.boolean(), anyValue),
        loop: fc.oneof(fc.boolean(), anyValue),
        aspect_ratio: fc.oneof(fc.constantFrom(...LUMA_ASPECT_RATIOS), anyValue),
        image_url: fc.oneof(keyframeLike, anyValue),
        image_end_url: fc.oneof(keyframeLike, anyValue),
        extra: fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(body, ({ extra = {}, ...fields }) => postAndCheck(JSON.stringify({ ...extra, ...fields }))),
      { numRuns: RUNS },
    );
  });

  it('arbitrary strings and values as keyframes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('image_url', 'image_end_url'), keyframeLike, (field, value) => postAndCheck(JSON.stringify(withPrompt({ [field]: value })))),
      { numRuns: RUNS },
    );
  });

  it('arbitrary Idempotency-Key, Authorization and Content-Type values', async () => {
    const headers = fc.record(
      {
        'idempotency-key': headerValue,
        authorization: fc.oneof(headerValue, headerValue.map((text) => `Bearer ${text}`), fc.constant(`Bearer ${API_KEY}`)),
        'content-type': fc.oneof(headerValue, fc.constant('application/json'), headerValue.map((text) => `application/json;${text}`)),
      },
      { requiredKeys: [] },
    );
    await fc.assert(fc.asyncProperty(headers, (chosen) => postAndCheck(VALID_TEXT, chosen)), { numRuns: RUNS });
  });

  it('arbitrary task ids and paths: a JSON 404 or 405, never a 5xx', async () => {
    const target = fc.oneof(
      fc.string({ minLength: 1 }).map((id) => `/luma/generations/${encodeURIComponent(id)}`),
      // Not the public pages: judged by the path a client sends (`/#x` and `/?x` are the playground at `/`).
      fc.string({ unit: 'grapheme' }).map((path) => `/${encodeURI(path)}`).filter((path) => !isSitePath(new URL(path, 'http://gateway').pathname)),
      fc.uuid().map((id) => `/luma/generations/${id}`),
    );
    await fc.assert(
      fc.asyncProperty(target, fc.constantFrom('GET', 'DELETE', 'PUT'), async (path, method) => {
        const c: HostileCase = { group: 'property', name: 'path', method, path };
        const answer = await send(c);
        checkAnswer(c, answer);
        // The one path that answers 200: the list, where fetch resolves a path to the collection ("/luma/generations/.").
        const list = method === 'GET' && /^\/luma\/generations\/?$/.test(new URL(path, 'http://gateway').pathname);
        expect(list ? [200] : [404, 405], describeAnswer(c, answer)).toContain(answer.status);
      }),
      { numRuns: RUNS },
    );
  });
});

// ------------------------------------------------------------------------------------------- afterwards

describe('after all of it', () => {
  it('still serves a valid request, and its task completes', async () => {
    const created = await client.create({ user_prompt: 'A lighthouse after the storm' });
    expect(created.status).toBe(200);
    const done = await client.waitForTerminal(created.body.id, 150_000);
    expect(done.state).toBe('completed');
  });

  it('never answered a 5xx, and the functions logged no unhandled error and no key', () => {
    console.log(`hostile corpus: ${corpus.length} cases, ${PROPERTIES} properties × ${RUNS} runs, ${tally.serverErrors.length} 5xx (${tally.requests} requests)`);
    console.log(`timed out once on this machine (504) and sent again: ${tally.timedOutOnce.length}\n  ${tally.timedOutOnce.join('\n  ')}`);
    console.log(`refused by Lambda before the function (event over 6 MB): ${tally.overLambdaEvent.length}\n  ${tally.overLambdaEvent.join('\n  ')}`);
    expect(tally.serverErrors).toEqual([]);
    const logs = functionLogs.join('');
    expect(logs).not.toContain('"unhandled error"');
    expect(logs.includes(API_KEY)).toBe(false);
    expect(logs.includes(UPSTREAM_KEY)).toBe(false);
  });
});
