/**
 * The HTTP edge: API Gateway REST API proxy events (payload format 1.0) in, JSON out. `requestFromEvent`
 * turns the event into the few fields the routes read, so nothing past this file knows API Gateway's
 * shapes. Every error leaves through `errorResponse`, so every error body has the same shape:
 * `{"error": {"code", "message", …}}`.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { asGatewayError, GatewayError, PayloadTooLargeError, BadRequestError, TooManyRequestsError, UnsupportedMediaTypeError } from '../commons/errors.ts';
import { describeBytes, MAX_BODY_BYTES, MAX_INLINE_KEYFRAME_BYTES } from '../commons/domain/payload-limits.ts';
import type { ErrorBody } from '../commons/domain/error-body.ts';

/** The body limit, set so that every body under it reaches the function (domain/payload-limits.ts). */
export { MAX_BODY_BYTES };

/** A request as the routes see it. */
export interface HttpRequest {
  readonly method: string;
  /** The path as API Gateway passes it (`event.path`): what the client sent, without the stage. */
  readonly path: string;
  /**
   * Header names lower-cased. A header sent more than once (in any mix of cases) has its values joined
   * with ", ", as HTTP combines repeated fields: two `Authorization` headers make no valid key.
   */
  readonly headers: Readonly<Record<string, string>>;
  /** The query string's parameters, each with every value it was given, in order. */
  readonly query: Readonly<Record<string, readonly string[]>>;
  readonly body: Buffer;
  readonly requestId: string;
}

export interface HttpResponse extends APIGatewayProxyResult {
  headers: Record<string, string>;
}

/** The fields the routes need from a REST API proxy event. Pure: the event is all it reads. */
export function requestFromEvent(event: APIGatewayProxyEvent): HttpRequest {
  // No prototype: a header named `__proto__` is a header like any other.
  const headers: Record<string, string> = Object.create(null);
  const add = (name: string, value: string) => {
    const key = name.toLowerCase();
    headers[key] = key in headers ? `${headers[key]}, ${value}` : value;
  };
  if (event.multiValueHeaders && Object.keys(event.multiValueHeaders).length > 0) {
    for (const [name, values] of Object.entries(event.multiValueHeaders)) for (const value of values ?? []) add(name, value);
  } else {
    for (const [name, value] of Object.entries(event.headers ?? {})) if (value !== undefined) add(name, value);
  }
  const query: Record<string, string[]> = Object.create(null);
  if (event.multiValueQueryStringParameters) {
    for (const [name, values] of Object.entries(event.multiValueQueryStringParameters)) if (values) query[name] = [...values];
  } else {
    for (const [name, value] of Object.entries(event.queryStringParameters ?? {})) if (value !== undefined) query[name] = [value];
  }
  const raw = event.body ?? '';
  return {
    method: event.httpMethod,
    path: event.path,
    headers,
    query,
    body: event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8'),
    requestId: event.requestContext.requestId,
  };
}

export function json(status: number, body: unknown, requestId: string): HttpResponse {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'x-request-id': requestId, 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  };
}

export function errorResponse(raised: unknown, requestId: string, log: (fields: Record<string, unknown>) => void): HttpResponse {
  const error = asGatewayError(raised);
  if (error instanceof GatewayError) {
    const extra = error.details === undefined ? {} : { details: error.details as ErrorBody['error']['details'] };
    const body: ErrorBody = { error: { code: error.code, message: error.message, ...extra } };
    const response = json(error.status, body, requestId);
    if (error instanceof TooManyRequestsError) response.headers['retry-after'] = String(error.retryAfterSeconds);
    return response;
  }
  // Not one of ours: the message may carry internals, so it goes to the log, not to the client.
  log({ level: 'error', msg: 'unhandled error', requestId, error: describe(error) });
  const body: ErrorBody = { error: { code: 'internal', message: `Internal error; quote request id ${requestId}.` } };
  return json(500, body, requestId);
}

/** The request body as JSON, with the size and media-type checks a client deserves clear answers to. */
export function parseJsonBody(request: HttpRequest): unknown {
  const contentType = request.headers['content-type'];
  if (contentType && !/^application\/([a-z.+-]*\+)?json\b/i.test(contentType.trim())) {
    throw new UnsupportedMediaTypeError('Send the body as JSON with the header "Content-Type: application/json".');
  }
  const bytes = request.body;
  if (bytes.length > MAX_BODY_BYTES) {
    throw new PayloadTooLargeError(
      `The body has ${bytes.length} bytes; this API takes at most ${describeBytes(MAX_BODY_BYTES)}. ` +
        `A keyframe over ${describeBytes(MAX_INLINE_KEYFRAME_BYTES)} is uploaded first: POST /luma/uploads.`,
      { details: { limit_bytes: MAX_BODY_BYTES } },
    );
  }
  if (bytes.length === 0) throw new BadRequestError('The body is empty; send a JSON object.');
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new BadRequestError('The body is not valid JSON.');
  }
  // JSON.parse takes any depth, but whatever walks the body recursively later (the idempotency
  // fingerprint) would overflow the stack on 10^5 nested arrays and answer 500.
  if (nestsDeeperThan(body, MAX_JSON_DEPTH)) {
    throw new BadRequestError(`The body nests deeper than ${MAX_JSON_DEPTH} levels.`);
  }
  return body;
}

/** Far deeper than any request needs: a valid body is one object of plain values. */
export const MAX_JSON_DEPTH = 64;

/** Whether arrays and objects nest more than `limit` levels deep; walks with its own stack, never recursing. */
function nestsDeeperThan(value: unknown, limit: number): boolean {
  const pending: [unknown, number][] = [[value, 1]];
  while (pending.length > 0) {
    const [node, depth] = pending.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth > limit) return true;
    for (const child of Object.values(node)) pending.push([child, depth + 1]);
  }
  return false;
}

export function describe(error: unknown): { name: string; message: string } {
  return error instanceof Error ? { name: error.name, message: error.message } : { name: 'unknown', message: String(error) };
}
