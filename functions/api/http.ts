/**
 * The HTTP edge: API Gateway (HTTP API, payload 2.0) events in, JSON out. Every error leaves through
 * `errorResponse`, so every error body has the same shape: `{"error": {"code", "message", …}}`.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { GatewayError, PayloadTooLargeError, BadRequestError, TooManyRequestsError, UnsupportedMediaTypeError } from '../commons/errors.ts';

/** Larger than any valid request (two 5 MiB keyframes in Base64), smaller than API Gateway's 10 MB. */
export const MAX_BODY_BYTES = 9.5 * 1024 * 1024;

export type HttpResponse = APIGatewayProxyStructuredResultV2;

export function json(status: number, body: unknown, requestId: string): HttpResponse {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'x-request-id': requestId, 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  };
}

export function errorResponse(error: unknown, requestId: string, log: (fields: Record<string, unknown>) => void): HttpResponse {
  if (error instanceof GatewayError) {
    const extra = error.details === undefined ? {} : { details: error.details };
    const response = json(error.status, { error: { code: error.code, message: error.message, ...extra } }, requestId);
    if (error instanceof TooManyRequestsError) response.headers!['retry-after'] = String(error.retryAfterSeconds);
    return response;
  }
  // Not one of ours: the message may carry internals, so it goes to the log, not to the client.
  log({ level: 'error', msg: 'unhandled error', requestId, error: describe(error) });
  return json(500, { error: { code: 'internal', message: `Internal error; quote request id ${requestId}.` } }, requestId);
}

/** The request body as JSON, with the size and media-type checks a client deserves clear answers to. */
export function parseJsonBody(event: APIGatewayProxyEventV2): unknown {
  const contentType = event.headers?.['content-type'];
  if (contentType && !/^application\/([a-z.+-]*\+)?json\b/i.test(contentType.trim())) {
    throw new UnsupportedMediaTypeError('Send the body as JSON with the header "Content-Type: application/json".');
  }
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) {
    throw new PayloadTooLargeError(`The body is larger than ${MAX_BODY_BYTES} bytes.`);
  }
  if (bytes.length === 0) throw new BadRequestError('The body is empty; send a JSON object.');
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new BadRequestError('The body is not valid JSON.');
  }
}

export function describe(error: unknown): { name: string; message: string } {
  return error instanceof Error ? { name: error.name, message: error.message } : { name: 'unknown', message: String(error) };
}
