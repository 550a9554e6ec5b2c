/**
 * Downloads of the assets the upstream handed us (ports/asset-downloader.ts), the one place the gateway
 * fetches a URL it did not make. The policy (`policy/asset-policy.ts`) is applied twice, so neither can be
 * sidestepped:
 * - before each request: redirects are followed by hand (at most MAX_REDIRECTS), and every hop passes
 *   through `checkAssetUrl` (scheme, allowlisted host, IP literal);
 * - at connect time: names resolve through a lookup that refuses the connection unless every address is
 *   public unicast, and the address the socket actually connected to is checked before a byte is sent.
 *   What was checked is what is connected to, so a DNS answer that changes between check and connect
 *   (rebinding) gains nothing.
 * An explicitly allowlisted origin (local runs: the simulated upstream on 127.0.0.1) skips the address
 * checks, and only that exact origin does.
 *
 * Node's own http and https clients, not fetch: they take the lookup and the socket directly, cost nothing
 * to load (undici, for fetch with a custom connector, was half of the copy function's bundle), and hand
 * the body over as the Node stream the copy pipes, without a web-stream bridge in every chunk's path.
 */
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction, type Socket } from 'node:net';
import { pipeline } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { DownloadFailedError, DownloadRefusedError, TransientDownloadError } from '../errors.ts';
import { addressRefusal, type AssetPolicy } from '../policy/asset-policy.ts';
import { describeNetworkError, isTransientHttpStatus } from '../outbound-http.ts';
import type { AssetDownloader, Download, DownloadOptions } from '../ports/asset-downloader.ts';
import { checkedLookup, systemResolver, type AddressRule, type Resolver } from './public-address-lookup.ts';

export type { Resolver } from './public-address-lookup.ts';

export const MAX_REDIRECTS = 3;

export class GuardedAssetDownloader implements AssetDownloader {
  readonly policy: AssetPolicy;
  readonly #lookup: LookupFunction;
  // Kept-alive connections for the life of the environment: a copy fetches a video and its thumbnail.
  readonly #agents = { 'http:': new HttpAgent({ keepAlive: true }), 'https:': new HttpsAgent({ keepAlive: true }) };

  constructor(policy: AssetPolicy, options: { resolve?: Resolver } = {}) {
    this.policy = policy;
    this.#lookup = guardedLookup(options.resolve ?? systemResolver);
  }

  /** The request-time check of one URL (the first, or a redirect hop). */
  checkAssetUrl(raw: string): URL {
    return this.policy.check(raw);
  }

  async open(raw: string, options: DownloadOptions): Promise<Download> {
    const signal = AbortSignal.timeout(options.timeoutMs);
    let url = this.checkAssetUrl(raw);
    for (let hop = 0; ; hop++) {
      let response: IncomingMessage;
      try {
        response = await this.get(url, signal);
      } catch (error) {
        if (error instanceof DownloadRefusedError) throw error;
        throw new TransientDownloadError(`The asset host ${url.host} could not be reached (${describeNetworkError(error)}).`, { cause: error });
      }
      const status = response.statusCode ?? 0;
      const location = response.headers.location;
      if (status >= 300 && status < 400 && location) {
        response.resume();
        const next = new URL(location, url);
        if (hop >= MAX_REDIRECTS) {
          throw new DownloadRefusedError(`Refused to follow the asset URL from ${url.host} to ${next.host}: more than ${MAX_REDIRECTS} redirects.`);
        }
        url = this.checkAssetUrl(next.href);
        continue;
      }
      if (status < 200 || status >= 300) {
        response.resume();
        const message = `The asset host ${url.host} answered HTTP ${status}.`;
        throw isTransientHttpStatus(status) ? new TransientDownloadError(message) : new DownloadFailedError(`${message} The upstream's link may have expired.`);
      }
      const length = response.headers['content-length'];
      const contentLength = length === undefined ? undefined : Number(length);
      if (contentLength !== undefined && contentLength > options.maxBytes) {
        response.destroy();
        throw new DownloadFailedError(`The asset is ${contentLength} bytes, more than the limit of ${options.maxBytes}.`);
      }
      // A server may encode the body though only identity was asked for: decoded here, and then
      // Content-Length (the encoded bytes) says nothing of the bytes the copy will count. (The size check
      // above may still use it: video barely compresses.)
      const decoder = decoderFor(response.headers['content-encoding']);
      return {
        body: decoder ? pipeline(response, decoder, () => {}) : response,
        contentType: (response.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase(),
        contentLength: Number.isSafeInteger(contentLength) && !decoder ? contentLength : undefined,
      };
    }
  }

  /** One GET, on a connection whose address passed the checks (an explicitly allowed origin goes straight). */
  private get(url: URL, signal: AbortSignal): Promise<IncomingMessage> {
    const explicit = this.policy.isExplicitOrigin(new URL(url.origin));
    // A literal address is connected to without a lookup: check it here.
    const hostname = url.hostname.replace(/^\[|\]$/g, '');
    const literalRefusal = !explicit && isIP(hostname) ? addressRefusal(hostname) : undefined;
    if (literalRefusal) return Promise.reject(new DownloadRefusedError(`Refused to download from ${url.host}: ${literalRefusal}.`));
    return new Promise((resolve, reject) => {
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const request: ClientRequest = send(url, {
        agent: this.#agents[url.protocol as 'http:' | 'https:'],
        headers: { 'accept-encoding': 'identity', 'user-agent': 'luma-video-gateway' },
        ...(!explicit && { lookup: this.#lookup }),
      });
      if (!explicit) request.on('socket', (socket) => checkConnectedAddress(socket, url, request));
      // The download's deadline ends the request, or later its body, with the signal's TimeoutError.
      const abort = () => request.destroy(signal.reason as Error);
      if (signal.aborted) abort();
      signal.addEventListener('abort', abort, { once: true });
      request.once('response', (response) => {
        signal.removeEventListener('abort', abort);
        const abortBody = () => response.destroy(signal.reason as Error);
        signal.addEventListener('abort', abortBody, { once: true });
        response.once('close', () => signal.removeEventListener('abort', abortBody));
        resolve(response);
      });
      request.once('error', (error) => {
        signal.removeEventListener('abort', abort);
        reject(error);
      });
      request.end();
    });
  }

  /** Closes pooled connections (tests; a Lambda keeps its downloader for the life of the environment). */
  async close(): Promise<void> {
    for (const agent of Object.values(this.#agents)) agent.destroy();
  }
}

/** The address the socket actually connected to, whatever produced it, before the request is sent on it. */
function checkConnectedAddress(socket: Socket, url: URL, request: ClientRequest): void {
  const check = () => {
    const address = socket.remoteAddress;
    const refusal = address ? addressRefusal(address) : 'the address is unknown';
    if (refusal) {
      request.destroy(new DownloadRefusedError(`Refused to download from ${url.host}: the connection went to a non-public address (${refusal}).`));
    }
  };
  // A kept-alive socket was checked when it connected; a new one is checked the moment it does.
  if (socket.connecting) socket.once('connect', check);
  else check();
}

function decoderFor(encoding: string | undefined) {
  switch ((encoding ?? 'identity').trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      return undefined;
  }
}

/** Public unicast addresses only; a refusal names the host (DownloadRefusedError, `download_refused`). */
const PUBLIC_ONLY: AddressRule = {
  refusalOf: addressRefusal,
  refuse: (host, why) => new DownloadRefusedError(`Refused to download from ${host}: ${why}.`),
};

/**
 * A name lookup that answers only when every address of the name is public unicast, and otherwise fails
 * the connection with DownloadRefusedError before any socket is opened.
 */
export function guardedLookup(resolve: Resolver): LookupFunction {
  return checkedLookup(resolve, PUBLIC_ONLY);
}
