/**
 * The Luma adapter's side of adoption, over real HTTP against a scripted server on loopback: which failed
 * creates are ambiguous (may have created a generation) and which are clear, and how the account-wide
 * list is searched for this task's marker and nothing else.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LumaProvider } from '../../functions/commons/providers/luma.ts';
import { TransientUpstreamError, UpstreamRejectedError } from '../../functions/commons/errors.ts';

type Script = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let server: Server;
let baseUrl: string;
let script: Script;
const seen: { method: string; url: string; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method!, url: req.url!, body });
      script(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  seen.length = 0;
});

const provider = (timeoutMs = 2000) => new LumaProvider({ baseUrl, model: 'ray-2', apiKey: async () => 'luma-key-0123456789', timeoutMs });
const sendJson = (res: ServerResponse, status: number, value: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
};

async function failure(promise: Promise<unknown>): Promise<TransientUpstreamError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(TransientUpstreamError);
  return error as TransientUpstreamError;
}

const MARKER = 'https://gw.example/luma/upstream-callbacks/0b4f1c2e-1111-4000-8000-000000000009/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

describe('a failed create: ambiguous or clear', () => {
  it('sends the marker as callback_url', async () => {
    script = (_req, res) => sendJson(res, 201, { id: 'g1', state: 'queued', created_at: '2026-11-29T10:00:00.123456Z' });
    await provider().submit({ prompt: 'A fox', marker: MARKER });
    expect(JSON.parse(seen[0]!.body).callback_url).toBe(MARKER);
  });

  it('a connection cut after sending is ambiguous', async () => {
    script = (req) => req.socket.destroy();
    expect((await failure(provider().submit({ prompt: 'A fox' }))).ambiguous).toBe(true);
  });

  it('a timeout after sending is ambiguous', async () => {
    script = () => undefined; // never answers
    expect((await failure(provider(150).submit({ prompt: 'A fox' }))).ambiguous).toBe(true);
  });

  it('a 201 whose body cannot be read is ambiguous', async () => {
    script = (_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end('{"id": "g1", "sta');
    };
    expect((await failure(provider().submit({ prompt: 'A fox' }))).ambiguous).toBe(true);
  });

  it('any answer the upstream sent is clear: 429, 500, 503', async () => {
    for (const status of [429, 500, 503]) {
      script = (_req, res) => sendJson(res, status, { detail: 'busy' });
      expect((await failure(provider().submit({ prompt: 'A fox' }))).ambiguous).toBe(false);
    }
  });

  it('a refused connection is clear: nothing was sent', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = new LumaProvider({ baseUrl: `http://127.0.0.1:${port}/v1`, model: 'ray-2', apiKey: async () => 'k' });
    expect((await failure(refused.submit({ prompt: 'A fox' }))).ambiguous).toBe(false);
  });

  it('a failed read of a generation is never ambiguous (it creates nothing)', async () => {
    script = (req) => req.socket.destroy();
    expect((await failure(provider().get('g1'))).ambiguous).toBe(false);
  });
});

describe('findByMarker', () => {
  const since = new Date('2026-11-29T10:00:00.000Z');
  const generation = (id: string, createdAt: string, callbackUrl: string | null, prompt = 'A fox') => ({
    id,
    state: 'dreaming',
    created_at: createdAt,
    request: { generation_type: 'video', model: 'ray-2', prompt, aspect_ratio: '16:9', loop: false, keyframes: null, callback_url: callbackUrl },
  });

  it('returns only generations carrying exactly this marker, oldest first, never a look-alike', async () => {
    script = (_req, res) =>
      sendJson(res, 200, {
        generations: [
          generation('copy-made-later', '2026-11-29T10:00:09.000001Z', MARKER),
          generation('same-prompt-no-marker', '2026-11-29T10:00:01.000000Z', null),
          generation('marker-prefix', '2026-11-29T10:00:01.000000Z', MARKER.slice(0, -1)),
          generation('marker-with-query', '2026-11-29T10:00:01.000000Z', `${MARKER}?x=1`),
          generation('ours', '2026-11-29T10:00:02.062856Z', MARKER),
          generation('before-the-attempt', '2026-11-29T09:30:00.000000Z', MARKER),
        ],
        has_more: false,
      });
    const found = await provider().findByMarker(MARKER, since);
    expect(found.map((g) => g.id)).toEqual(['ours', 'copy-made-later']);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url).toBe('/v1/generations?limit=100&offset=0');
  });

  it('reads further pages while they are full, and at most ten', async () => {
    script = (req, res) => {
      const offset = Number(new URL(req.url!, 'http://x').searchParams.get('offset'));
      const page = Array.from({ length: 100 }, (_, i) => generation(`g${offset + i}`, '2026-11-29T10:00:05.000000Z', offset + i === 250 ? MARKER : null));
      sendJson(res, 200, { generations: page, has_more: true });
    };
    const found = await provider().findByMarker(MARKER, since);
    expect(found.map((g) => g.id)).toEqual(['g250']);
    expect(seen.map((request) => request.url)).toHaveLength(10);
  });

  it('finds nothing in an account full of same-prompt generations made by others', async () => {
    script = (_req, res) =>
      sendJson(res, 200, {
        generations: Array.from({ length: 30 }, (_, i) => generation(`other-${i}`, '2026-11-29T10:00:05.000000Z', i % 2 ? null : 'https://hooks.other.example/luma')),
        has_more: false,
      });
    expect(await provider().findByMarker(MARKER, since)).toEqual([]);
  });

  it('a refused list is an error, not "nothing found"', async () => {
    script = (_req, res) => sendJson(res, 404, { detail: 'Not Found' });
    await expect(provider().findByMarker(MARKER, since)).rejects.toBeInstanceOf(UpstreamRejectedError);
  });
});
