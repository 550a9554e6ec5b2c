/**
 * Signature Version 4 checked on the receiving side, as AWS checks it: the canonical request is rebuilt
 * from the request as received (method, path as sent, query, the headers it names as signed, the payload
 * hash), signed again with the data dir's key by `@smithy/signature-v4`, the SDK's own implementation,
 * and compared in constant time. Two mechanisms, as in AWS: the `Authorization` header (its date within
 * 15 minutes of now) and, for presigned links, the `X-Amz-*` query parameters (until they expire).
 *
 * Knows nothing of any service's error shapes: a refusal says why, the endpoint answers it in its own form.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ALGORITHM_IDENTIFIER, createScope, getCanonicalHeaders, getSigningKey, SignatureV4 } from '@smithy/signature-v4';
import type { LocalCredentials } from './local-aws.ts';

/** AWS's limit on the distance between a signed request's date and the server's clock. */
export const MAX_CLOCK_SKEW_MS = 15 * 60_000;
/** AWS's limit on a presigned link's lifetime. */
export const MAX_PRESIGNED_SECONDS = 7 * 24 * 3600;
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

export interface ReceivedRequest {
  method: string;
  /** The request target exactly as sent: path and query, still percent-encoded. */
  target: string;
  headers: IncomingHttpHeaders;
}

export interface SignaturePolicy {
  credentials: LocalCredentials;
  region: string;
  /** The signing names this endpoint answers to (`s3`, `dynamodb`, `states`, `secretsmanager`). */
  services: readonly string[];
  /** S3 signs the path as sent; every other service signs it normalized and escaped once more. */
  uriEscapePath: boolean;
}

export type RefusalReason =
  | 'missing' // no signature at all
  | 'malformed' // an Authorization header or X-Amz-* parameters that cannot be read
  | 'scope' // signed for another region or service, or a scope date that is not the request's
  | 'unknown-key'
  | 'mismatch'
  | 'skewed' // a date more than 15 minutes from now (a presigned link: dated in the future)
  | 'expired'; // a presigned link past its X-Amz-Expires

export interface Refusal {
  ok: false;
  reason: RefusalReason;
  /** Which mechanism the request used: S3 names the malformed parts differently for each. */
  presigned: boolean;
  message: string;
}

/** What the headers and query of a request signed with the data dir's key say, before the payload is known. */
export interface SignedRequest {
  ok: true;
  presigned: boolean;
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  /** Only the headers the request names as signed. */
  headers: Record<string, string>;
  signedHeaders: string[];
  longDate: string;
  shortDate: string;
  region: string;
  service: string;
  signature: string;
}

/**
 * Reads the signature's parts and checks all that needs no payload: one mechanism, well formed, the data
 * dir's key, the scope, the date. The caller then supplies the payload hash to `checkSignature`.
 */
export function readSignature(request: ReceivedRequest, policy: SignaturePolicy, now = new Date()): SignedRequest | Refusal {
  const queryAt = request.target.indexOf('?');
  const path = queryAt === -1 ? request.target : request.target.slice(0, queryAt);
  const query = parseQuery(queryAt === -1 ? '' : request.target.slice(queryAt + 1));
  const authorization = request.headers.authorization;
  const presigned = query !== undefined && Object.hasOwn(query, 'X-Amz-Algorithm');
  const refuse = (reason: RefusalReason, message: string): Refusal => ({ ok: false, reason, presigned, message });
  if (query === undefined) return refuse('malformed', 'The query string is not valid percent-encoding.');
  if (authorization !== undefined && presigned) {
    return refuse('malformed', "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.");
  }
  if (authorization === undefined && !presigned) return refuse('missing', 'Request is missing Authentication Token');
  if (!path.startsWith('/')) return refuse('malformed', 'The request target must be a path.');

  const parts = presigned ? presignedParts(query) : headerParts(authorization!, request.headers['x-amz-date']);
  if (typeof parts === 'string') return refuse('malformed', parts);
  const [accessKeyId, shortDate, region, service, terminator, ...extra] = parts.credential.split('/');
  if (extra.length > 0 || terminator !== 'aws4_request' || !accessKeyId) {
    return refuse('malformed', `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${parts.credential}'`);
  }
  const date = parseLongDate(parts.longDate);
  if (!date) return refuse('malformed', `X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'", got '${parts.longDate}'`);
  if (region !== policy.region) return refuse('scope', `Credential should be scoped to a valid region, not '${region}'.`);
  if (!policy.services.includes(service!)) return refuse('scope', `Credential should be scoped to correct service: '${policy.services.join("' or '")}'.`);
  if (shortDate !== parts.longDate.slice(0, 8)) {
    return refuse('scope', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${shortDate}' != '${parts.longDate.slice(0, 8)}'.`);
  }
  if (!parts.signedHeaders.includes('host')) return refuse('malformed', "'Host' must be a 'SignedHeader' in the AWS Authorization.");
  if (accessKeyId !== policy.credentials.accessKeyId) return refuse('unknown-key', 'The security token included in the request is invalid.');

  if (parts.expiresSeconds === undefined) {
    const skew = date.getTime() - now.getTime();
    if (skew < -MAX_CLOCK_SKEW_MS) {
      return refuse('skewed', `Signature expired: ${parts.longDate} is now earlier than ${longDateOf(now.getTime() - MAX_CLOCK_SKEW_MS)} (${longDateOf(now.getTime())} - 15 min.)`);
    }
    if (skew > MAX_CLOCK_SKEW_MS) {
      return refuse('skewed', `Signature not yet current: ${parts.longDate} is still later than ${longDateOf(now.getTime() + MAX_CLOCK_SKEW_MS)} (${longDateOf(now.getTime())} + 15 min.)`);
    }
  } else {
    if (date.getTime() - now.getTime() > MAX_CLOCK_SKEW_MS) return refuse('skewed', 'Request is not valid yet');
    if (now.getTime() > date.getTime() + parts.expiresSeconds * 1000) return refuse('expired', 'Request has expired');
  }

  const headers: Record<string, string> = {};
  for (const name of parts.signedHeaders) {
    const value = request.headers[name];
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  return {
    ok: true,
    presigned,
    method: request.method,
    path,
    query,
    headers,
    signedHeaders: parts.signedHeaders,
    longDate: parts.longDate,
    shortDate: shortDate!,
    region: region!,
    service: service!,
    signature: parts.signature,
  };
}

/** Signs the request again over `payloadHash` and compares the two signatures in constant time. */
export async function checkSignature(signed: SignedRequest, payloadHash: string, policy: SignaturePolicy): Promise<Refusal | undefined> {
  const mismatch = signatureMismatch(signed.presigned);
  if (!/^[0-9a-f]{64}$/.test(signed.signature)) return mismatch;
  const signer = new SignatureRecomputation({
    credentials: policy.credentials,
    region: signed.region,
    service: signed.service,
    sha256: Sha256,
    uriEscapePath: policy.uriEscapePath,
    applyChecksum: false,
  });
  let expected: Buffer;
  try {
    expected = await signer.signatureOf(signed, payloadHash);
  } catch {
    return mismatch; // a path or query that cannot be canonicalized (a lone surrogate) was not signed by anyone
  }
  return timingSafeEqual(expected, Buffer.from(signed.signature, 'hex')) ? undefined : mismatch;
}

export function signatureMismatch(presigned: boolean): Refusal {
  return {
    ok: false,
    reason: 'mismatch',
    presigned,
    message:
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
  };
}

export function sha256Hex(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

type HttpRequest = Parameters<SignatureV4['presign']>[0];

/** The library's canonical request and string to sign, reached through its (protected) building blocks. */
class SignatureRecomputation extends SignatureV4 {
  async signatureOf(signed: SignedRequest, payloadHash: string): Promise<Buffer> {
    const request: HttpRequest = {
      method: signed.method,
      protocol: 'http:',
      hostname: signed.headers.host ?? '',
      path: signed.path,
      query: signed.query,
      headers: signed.headers,
    };
    // Exactly the headers the request names as signed, even those the SDK itself never signs.
    const canonicalHeaders = getCanonicalHeaders(request, undefined, new Set(signed.signedHeaders));
    const canonicalRequest = this.createCanonicalRequest(request, canonicalHeaders, payloadHash);
    const scope = createScope(signed.shortDate, signed.region, signed.service);
    const stringToSign = await this.createStringToSign(signed.longDate, scope, canonicalRequest, ALGORITHM_IDENTIFIER);
    const key = await getSigningKey(Sha256, await this.credentialProvider(), signed.shortDate, signed.region, signed.service);
    return createHmac('sha256', key).update(stringToSign, 'utf8').digest();
  }
}

/** SHA-256 and HMAC-SHA256 from node:crypto, in the shape the signer takes (what @smithy/hash-node provides). */
export class Sha256 {
  readonly #secret: Buffer | undefined;
  #hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;

  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#secret =
      secret === undefined
        ? undefined
        : typeof secret === 'string'
          ? Buffer.from(secret, 'utf8')
          : ArrayBuffer.isView(secret)
            ? Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength)
            : Buffer.from(secret);
    this.#hash = this.#fresh();
  }

  update(data: Uint8Array): void {
    this.#hash.update(data);
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }

  reset(): void {
    this.#hash = this.#fresh();
  }

  #fresh() {
    return this.#secret === undefined ? createHash('sha256') : createHmac('sha256', this.#secret);
  }
}

interface SignatureParts {
  credential: string;
  signedHeaders: string[];
  signature: string;
  longDate: string;
  /** Present for a presigned link. */
  expiresSeconds?: number;
}

function headerParts(authorization: string, amzDate: string | string[] | undefined): SignatureParts | string {
  const match = /^AWS4-HMAC-SHA256\s+(.*)$/s.exec(authorization.trim());
  if (!match) return 'Unsupported Authorization Type: only AWS4-HMAC-SHA256 is accepted.';
  const fields = new Map<string, string>();
  for (const field of match[1]!.split(',')) {
    const at = field.indexOf('=');
    if (at === -1) return `'${field.trim()}' not a valid key=value pair (missing equal-sign) in Authorization header.`;
    fields.set(field.slice(0, at).trim(), field.slice(at + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!credential || !signedHeaders || !signature || fields.size !== 3) {
    return 'The authorization header requires exactly three components: Credential, SignedHeaders and Signature.';
  }
  if (typeof amzDate !== 'string') return "Authorization header requires existence of an 'X-Amz-Date' header.";
  return { credential, signedHeaders: signedHeaders.split(';'), signature, longDate: amzDate };
}

function presignedParts(query: Record<string, string | string[]>): SignatureParts | string {
  const value = (name: string) => (typeof query[name] === 'string' ? (query[name] as string) : undefined);
  const [algorithm, credential, longDate, signedHeaders, signature, expires] = [
    'X-Amz-Algorithm',
    'X-Amz-Credential',
    'X-Amz-Date',
    'X-Amz-SignedHeaders',
    'X-Amz-Signature',
    'X-Amz-Expires',
  ].map(value);
  if (algorithm !== ALGORITHM_IDENTIFIER) return 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"';
  if (!credential || !longDate || !signedHeaders || !signature || expires === undefined) {
    return 'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.';
  }
  const expiresSeconds = /^\d{1,7}$/.test(expires) ? Number(expires) : NaN;
  if (!(expiresSeconds >= 1 && expiresSeconds <= MAX_PRESIGNED_SECONDS)) {
    return `X-Amz-Expires must be between 1 and ${MAX_PRESIGNED_SECONDS} seconds.`;
  }
  return { credential, signedHeaders: signedHeaders.split(';'), signature, longDate, expiresSeconds };
}

/** Decoded keys and values, a key given twice holding both; undefined when the encoding is broken. */
function parseQuery(raw: string): Record<string, string | string[]> | undefined {
  const query: Record<string, string | string[]> = Object.create(null);
  try {
    for (const pair of raw.split('&')) {
      if (pair === '') continue;
      const at = pair.indexOf('=');
      const key = decodeURIComponent(at === -1 ? pair : pair.slice(0, at));
      const value = at === -1 ? '' : decodeURIComponent(pair.slice(at + 1));
      const existing = query[key];
      query[key] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
    }
  } catch {
    return undefined;
  }
  return query;
}

function parseLongDate(text: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  return longDateOf(date.getTime()) === text ? date : undefined; // no 20260230T…
}

function longDateOf(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}
