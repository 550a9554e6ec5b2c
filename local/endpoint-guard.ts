/**
 * What stands between a local AWS endpoint and its emulator: a request listener that lets through only
 * requests signed with the data dir's key (see request-signature.ts) and refuses the others in the
 * service's own error shape, as AWS answers them. Requests from web pages (any with an `Origin` header)
 * are refused before anything else, so no page can reach an emulator and no CORS preflight is answered;
 * the one exception is S3, for an origin and method the bucket's CORS rules allow (the deployment's
 * `corsAllowedOrigins` may PUT uploads): the emulator answers its preflight, and the request itself must
 * be signed like any other.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import {
  checkSignature,
  readSignature,
  sha256Hex,
  signatureMismatch,
  UNSIGNED_PAYLOAD,
  type ReceivedRequest,
  type Refusal,
  type SignaturePolicy,
} from './request-signature.ts';

/** dynalite's own limit on a request body; the JSON services here take far less. */
export const MAX_JSON_BODY_BYTES = 16 * 1024 * 1024;

const ORIGIN_REFUSED = 'The local AWS endpoints do not serve web pages: requests with an Origin header are refused.';

/** What S3 accepts as `x-amz-content-sha256`: a hex SHA-256, or a declaration that the payload is unsigned or streamed. */
const S3_PAYLOAD_HASH =
  /^(?:[0-9a-fA-F]{64}|UNSIGNED-PAYLOAD|STREAMING-UNSIGNED-PAYLOAD-TRAILER|STREAMING-AWS4-HMAC-SHA256-PAYLOAD(?:-TRAILER)?|STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD(?:-TRAILER)?)$/;

export type BodyListener = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** A rule of the bucket's CORS configuration (the template's `CorsConfiguration.CorsRules`, as S3 reads it). */
export interface BucketCorsRule {
  allowedOrigins: string[];
  allowedMethods: string[];
  allowedHeaders: string[];
  maxAgeSeconds?: number;
}

/** The most a presigned PUT carrying a checksum may send: its body is read whole to check it. */
export const MAX_CHECKSUMMED_BODY_BYTES = 64 * 1024 * 1024;

/** The checksums S3 checks a body against when a presigned URL names one, and how to compute those it can here. */
const CHECKSUMS: Record<string, { name: string; digest?: (body: Buffer) => string }> = {
  'x-amz-checksum-crc32': { name: 'CRC32', digest: (body) => crc32Base64(body) },
  'x-amz-checksum-sha1': { name: 'SHA1', digest: (body) => createHash('sha1').update(body).digest('base64') },
  'x-amz-checksum-sha256': { name: 'SHA256', digest: (body) => createHash('sha256').update(body).digest('base64') },
  'x-amz-checksum-crc32c': { name: 'CRC32C' },
  'x-amz-checksum-crc64nvme': { name: 'CRC64NVME' },
};

function crc32Base64(body: Buffer): string {
  const digest = Buffer.alloc(4);
  digest.writeUInt32BE(crc32(body));
  return digest.toString('base64');
}

/**
 * S3: the signature covers the headers and the payload hash the request declares (or, presigned,
 * UNSIGNED-PAYLOAD), so it is checked before the body is read and the body then streams to the emulator
 * untouched: a multipart upload of a large video is never held in memory here. A presigned URL that names a
 * checksum (`x-amz-checksum-crc32=…`, which the SDK's default flexible checksums put into a presigned PUT)
 * is the exception: S3 refuses a body that does not match it (400 BadDigest), so the body is read and
 * checked here too, as S3 would, before the emulator gets it.
 */
export function s3Guard(policy: SignaturePolicy, next: RequestListener, corsRules: readonly BucketCorsRule[] = []): RequestListener {
  return (req, res) => {
    if (req.headers.origin !== undefined) {
      const preflight = req.method === 'OPTIONS';
      const method = preflight ? req.headers['access-control-request-method'] : req.method;
      if (!corsRules.some((rule) => rule.allowedOrigins.includes(String(req.headers.origin)) && rule.allowedMethods.includes(String(method)))) {
        return s3Error(req, res, 403, 'AccessDenied', ORIGIN_REFUSED);
      }
      // A preflight carries no signature: the emulator answers it from the bucket's CORS rules.
      if (preflight) return next(req, res);
    }
    const signed = readSignature(received(req), policy);
    if (!signed.ok) return s3Refusal(req, res, signed);
    let payloadHash = UNSIGNED_PAYLOAD;
    if (!signed.presigned) {
      const declared = req.headers['x-amz-content-sha256'];
      if (declared === undefined) {
        return s3Error(req, res, 400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
      }
      if (typeof declared !== 'string' || !S3_PAYLOAD_HASH.test(declared)) {
        return s3Error(req, res, 400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING-… value, or a valid sha256 value.');
      }
      payloadHash = declared;
    }
    const checksum = signed.presigned ? Object.keys(CHECKSUMS).find((name) => Object.hasOwn(signed.query, name)) : undefined;
    checkSignature(signed, payloadHash, policy)
      .then(async (refusal) => {
        if (refusal) return s3Refusal(req, res, refusal);
        if (checksum === undefined) return next(req, res);
        const { name, digest } = CHECKSUMS[checksum]!;
        if (!digest) return s3Error(req, res, 501, 'NotImplemented', `The local S3 cannot check a ${name} checksum.`);
        const body = await readBody(req, MAX_CHECKSUMMED_BODY_BYTES);
        if (body === undefined) return s3Error(req, res, 400, 'EntityTooLarge', `The local S3 checks bodies of at most ${MAX_CHECKSUMMED_BODY_BYTES} bytes against a checksum.`);
        if (digest(body) !== signed.query[checksum]) {
          return s3Error(req, res, 400, 'BadDigest', `The ${name} you specified did not match the calculated checksum.`);
        }
        next(replayed(req, body), res);
      })
      .catch(() => (res.headersSent ? res.destroy() : s3Error(req, res, 500, 'InternalError', 'We encountered an internal error. Please try again.')));
  };
}

/**
 * A request whose body was read here, for the emulator behind: a stream of the same bytes, with the
 * request's method, url, headers and socket (what dynalite and s3rver read of it).
 */
export function replayed(req: IncomingMessage, body: Buffer): IncomingMessage {
  const replay = Readable.from(body.length > 0 ? [body] : []);
  return Object.assign(replay, { method: req.method, url: req.url, headers: req.headers, httpVersion: req.httpVersion, socket: req.socket }) as unknown as IncomingMessage;
}

/**
 * DynamoDB, Step Functions, Secrets Manager (AWS JSON 1.0/1.1): the signature covers the SHA-256 of the
 * body, so the body is read (up to 16 MiB) and hashed before the request goes on, with the body.
 */
export function jsonServiceGuard(policy: SignaturePolicy, next: BodyListener): RequestListener {
  return (req, res) => {
    if (req.headers.origin !== undefined) return jsonError(req, res, 403, 'AccessDeniedException', ORIGIN_REFUSED);
    const signed = readSignature(received(req), policy);
    if (!signed.ok) return jsonRefusal(req, res, signed);
    if (signed.presigned) {
      return jsonError(req, res, 400, 'IncompleteSignatureException', 'Query-string authentication is not accepted by this endpoint: sign the Authorization header.');
    }
    readBody(req, MAX_JSON_BODY_BYTES)
      .then(async (body) => {
        if (body === undefined) return jsonError(req, res, 413, 'RequestEntityTooLarge', `Request bodies are limited to ${MAX_JSON_BODY_BYTES} bytes.`);
        const payloadHash = sha256Hex(body);
        const declared = req.headers['x-amz-content-sha256'];
        // A declared hash must be the body's: the signature would otherwise cover a body that was not sent.
        const refusal =
          declared !== undefined && declared !== payloadHash ? signatureMismatch(false) : await checkSignature(signed, payloadHash, policy);
        if (refusal) return jsonRefusal(req, res, refusal);
        next(req, res, body);
      })
      .catch(() => res.destroy()); // a connection cut mid-body, or a fault past the check: nothing to answer
  };
}

function received(req: IncomingMessage): ReceivedRequest {
  return { method: req.method ?? 'GET', target: req.url ?? '/', headers: req.headers };
}

/** The whole body, or undefined past `limit` bytes (the rest is not read). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData).off('end', onEnd);
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => resolve(Buffer.concat(chunks));
    req.on('data', onData).on('end', onEnd).on('error', reject);
  });
}

function s3Refusal(req: IncomingMessage, res: ServerResponse, refusal: Refusal): void {
  switch (refusal.reason) {
    case 'missing':
      return s3Error(req, res, 403, 'AccessDenied', 'Access Denied');
    case 'malformed':
    case 'scope':
      return s3Error(req, res, 400, refusal.presigned ? 'AuthorizationQueryParametersError' : 'AuthorizationHeaderMalformed', refusal.message);
    case 'unknown-key':
      return s3Error(req, res, 403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
    case 'mismatch':
      return s3Error(req, res, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
    case 'skewed':
      return refusal.presigned
        ? s3Error(req, res, 403, 'AccessDenied', refusal.message)
        : s3Error(req, res, 403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.');
    case 'expired':
      return s3Error(req, res, 403, 'AccessDenied', 'Request has expired');
  }
}

function s3Error(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string): void {
  const requestId = randomUUID();
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message><RequestId>${requestId}</RequestId></Error>`;
  // An unread request body must not be taken for the next request on this connection.
  res.writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': requestId, connection: 'close' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function jsonRefusal(req: IncomingMessage, res: ServerResponse, refusal: Refusal): void {
  const type = {
    missing: 'MissingAuthenticationTokenException',
    malformed: 'IncompleteSignatureException',
    'unknown-key': 'UnrecognizedClientException',
    scope: 'InvalidSignatureException',
    mismatch: 'InvalidSignatureException',
    skewed: 'InvalidSignatureException',
    expired: 'InvalidSignatureException',
  }[refusal.reason];
  jsonError(req, res, 400, type, refusal.message);
}

function jsonError(req: IncomingMessage, res: ServerResponse, status: number, type: string, message: string): void {
  const contentType = String(req.headers['content-type'] ?? '');
  res.writeHead(status, {
    'content-type': contentType.startsWith('application/x-amz-json-') ? contentType : 'application/x-amz-json-1.0',
    'x-amzn-requestid': randomUUID(),
    connection: 'close',
  });
  res.end(JSON.stringify({ __type: `com.amazon.coral.service#${type}`, message }));
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}
