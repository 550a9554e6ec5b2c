/**
 * Downloads of the assets the upstream handed us (ports/asset-downloader.ts), the one place the gateway
 * fetches a URL it did not make. The policy (`policy/asset-policy.ts`) is applied twice, so neither can be
 * sidestepped:
 * - before each request: redirects are followed by hand (at most MAX_REDIRECTS), and every hop passes
 *   through `checkAssetUrl` (scheme, allowlisted host, IP literal);
 * - at connect time: the HTTP client (undici's own fetch and Agent, so the two always match) resolves
 *   names through a lookup that refuses the connection unless every address is public unicast, and checks
 *   the address the socket actually connected to. What was checked is what is connected to, so a DNS
 *   answer that changes between check and connect (rebinding) gains nothing.
 * An explicitly allowlisted origin (local runs: the simulated upstream on 127.0.0.1) skips the address
 * checks, and only that exact origin does.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Agent, buildConnector, fetch, type Response } from 'undici';
import { DownloadFailedError, DownloadRefusedError, TransientDownloadError } from '../errors.ts';
import { addressRefusal, type AssetPolicy } from '../policy/asset-policy.ts';
import { describeNetworkError, isTransientHttpStatus } from '../outbound-http.ts';
import type { AssetDownloader, Download, DownloadOptions } from '../ports/asset-downloader.ts';

export const MAX_REDIRECTS = 3;

/** Resolves a host name to all its addresses: `dns.lookup` with `all: true`, or a stand-in in tests. */
export type Resolver = (
  hostname: string,
  options: { all: true; family?: number; hints?: number },
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

const systemResolver: Resolver = (hostname, options, callback) => dnsLookup(hostname, options, callback);

export class GuardedAssetDownloader implements AssetDownloader {
  readonly policy: AssetPolicy;
  readonly #agent: Agent;

  constructor(policy: AssetPolicy, options: { resolve?: Resolver } = {}) {
    this.policy = policy;
    this.#agent = new Agent({ connect: guardedConnector(policy, options.resolve ?? systemResolver) });
  }

  /** The request-time check of one URL (the first, or a redirect hop). */
  checkAssetUrl(raw: string): URL {
    return this.policy.check(raw);
  }

  async open(raw: string, options: DownloadOptions): Promise<Download> {
    const signal = AbortSignal.timeout(options.timeoutMs);
    let url = this.checkAssetUrl(raw);
    for (let hop = 0; ; hop++) {
      let response: Response;
      try {
        response = await fetch(url, { redirect: 'manual', signal, dispatcher: this.#agent });
      } catch (error) {
        const refused = refusalIn(error);
        if (refused) throw refused;
        throw new TransientDownloadError(`The asset host ${url.host} could not be reached (${describeNetworkError(error)}).`, { cause: error });
      }
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel();
        const next = new URL(location, url);
        if (hop >= MAX_REDIRECTS) {
          throw new DownloadRefusedError(`Refused to follow the asset URL from ${url.host} to ${next.host}: more than ${MAX_REDIRECTS} redirects.`);
        }
        url = this.checkAssetUrl(next.href);
        continue;
      }
      if (!response.ok || !response.body) {
        await response.body?.cancel();
        const message = `The asset host ${url.host} answered HTTP ${response.status}.`;
        throw isTransientHttpStatus(response.status)
          ? new TransientDownloadError(message)
          : new DownloadFailedError(`${message} The upstream's link may have expired.`);
      }
      const length = response.headers.get('content-length');
      const contentLength = length === null ? undefined : Number(length);
      if (contentLength !== undefined && contentLength > options.maxBytes) {
        await response.body.cancel();
        throw new DownloadFailedError(`The asset is ${contentLength} bytes, more than the limit of ${options.maxBytes}.`);
      }
      // fetch decodes a gzip/br/deflate body, and Content-Length counts the encoded bytes: the copy must not
      // hold the decoded ones to it. (The size check above may still use it: video barely compresses.)
      const encoded = (response.headers.get('content-encoding') ?? 'identity').trim().toLowerCase() !== 'identity';
      return {
        body: Readable.fromWeb(response.body as WebReadableStream<Uint8Array>),
        contentType: (response.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase(),
        contentLength: Number.isSafeInteger(contentLength) && !encoded ? contentLength : undefined,
      };
    }
  }

  /** Closes pooled connections (tests; a Lambda keeps its downloader for the life of the environment). */
  close(): Promise<void> {
    return this.#agent.close();
  }
}

/**
 * A name lookup that answers only when every address of the name is public unicast, and otherwise fails
 * the connection with DownloadRefusedError before any socket is opened.
 */
export function guardedLookup(resolve: Resolver): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { all: true, family: options.family === undefined ? undefined : Number(options.family), hints: options.hints }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const refusal = addresses.map(({ address }) => addressRefusal(address)).find(Boolean);
      if (refusal || addresses.length === 0) {
        const why = refusal ? `it resolves to a non-public address (${refusal})` : 'it has no address';
        return callback(new DownloadRefusedError(`Refused to download from ${hostname}: ${why}.`), '', 0);
      }
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

/** undici's connector, with the address checks in front of it and after it; explicit origins go straight through. */
function guardedConnector(policy: AssetPolicy, resolve: Resolver): buildConnector.connector {
  const checked = buildConnector({ lookup: guardedLookup(resolve) });
  const direct = buildConnector({});
  return (options, callback) => {
    let origin: URL;
    try {
      origin = new URL(`${options.protocol}//${options.host ?? options.hostname}`);
    } catch {
      return callback(new DownloadRefusedError(`Refused to connect to ${options.hostname}: not a valid origin.`), null);
    }
    if (policy.isExplicitOrigin(origin)) return direct(options, callback);
    // A literal address is connected to without a lookup: check it here.
    if (isIP(options.hostname)) {
      const refusal = addressRefusal(options.hostname);
      if (refusal) return callback(new DownloadRefusedError(`Refused to download from ${origin.host}: ${refusal}.`), null);
    }
    checked(options, (error, socket) => {
      if (error) return callback(error, null);
      // The address actually connected to, whatever produced it.
      const address = socket!.remoteAddress;
      const refusal = address ? addressRefusal(address) : 'the address is unknown';
      if (refusal) {
        socket!.destroy();
        return callback(new DownloadRefusedError(`Refused to download from ${origin.host}: the connection went to a non-public address (${refusal}).`), null);
      }
      callback(null, socket!);
    });
  };
}

/** fetch reports a connect failure as `TypeError: fetch failed` with the connector's error as its cause. */
function refusalIn(error: unknown): DownloadRefusedError | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [error];
  while (queue.length > 0) {
    const next = queue.shift();
    if (!next || typeof next !== 'object' || seen.has(next)) continue;
    seen.add(next);
    if (next instanceof DownloadRefusedError) return next;
    queue.push((next as { cause?: unknown }).cause, ...((next as { errors?: unknown[] }).errors ?? []));
  }
  return undefined;
}
