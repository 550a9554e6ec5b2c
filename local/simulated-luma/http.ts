/**
 * HTTP plumbing of the simulator: routes, JSON answers, bearer check and a capped body reader.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

type RouteAction = 'ping' | 'create' | 'list' | 'get' | 'delete' | 'asset';

interface RouteSpec {
  pattern: RegExp;
  methods: Partial<Record<string, RouteAction>>;
}

// Order matters: /generations/video must win over /generations/{id}.
const ROUTES: RouteSpec[] = [
  { pattern: /^\/ping$/, methods: { GET: 'ping' } },
  { pattern: /^\/generations\/video$/, methods: { POST: 'create' } },
  { pattern: /^\/generations$/, methods: { POST: 'create', GET: 'list' } },
  { pattern: /^\/generations\/([^/]+)$/, methods: { GET: 'get', DELETE: 'delete' } },
  { pattern: /^\/assets\/([^/]+)\/(video\.mp4|thumbnail\.jpg)$/, methods: { GET: 'asset', HEAD: 'asset' } },
];

export type RouteMatch =
  | { kind: 'found'; action: RouteAction; params: string[] }
  | { kind: 'not-found' }
  | { kind: 'method-not-allowed'; allow: string[] };

export function matchRoute(method: string, pathname: string): RouteMatch {
  for (const route of ROUTES) {
    const match = route.pattern.exec(pathname);
    if (!match) continue;
    const action = route.methods[method];
    if (action === undefined) return { kind: 'method-not-allowed', allow: Object.keys(route.methods) };
    const params = match.slice(1).map(safeDecode);
    if (params.includes(undefined)) return { kind: 'not-found' };
    return { kind: 'found', action, params: params as string[] };
  }
  return { kind: 'not-found' };
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

export function sendJson(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(payload);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

export function sendNoContent(res: ServerResponse): void {
  res.writeHead(204);
  res.end();
}

export function hasValidBearer(req: IncomingMessage, apiKey: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  return match !== null && match[1]!.trim() === apiKey;
}

/**
 * Reads the whole body but keeps at most `limit` bytes. An oversized body is
 * drained rather than cut off, so the client reliably sees the 413 instead of
 * a reset connection while it is still writing.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received <= limit) chunks.push(chunk);
  }
  if (received > limit) throw new HttpError(413, `Request body exceeds ${limit} bytes`);
  return Buffer.concat(chunks).toString('utf8');
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'Request body must be valid JSON');
  }
}
