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
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { LookupFunction } from 'node:net';
import { Agent, fetch, type Response } from 'undici';
import { DownloadFailedError, DownloadRefusedError, TransientDownloadError } from '../errors.ts';
import { addressRefusal, type AssetPolicy } from '../policy/asset-policy.ts';
import { describeNetworkError, isTransientHttpStatus } from '../outbound-http.ts';
import type { AssetDownloader, Download, DownloadOptions } from '../ports/asset-downloader.ts';
import { checkedConnector, checkedLookup, errorIn, systemResolver, type AddressRule, type Resolver } from './public-address-connector.ts';

export type { Resolver } from './public-address-connector.ts';

export const MAX_REDIRECTS = 3;

export class GuardedAssetDownloader implements AssetDownloader {
  readonly policy: AssetPolicy;
  readonly #agent: Agent;

  constructor(policy: AssetPolicy, options: { resolve?: Resolver } = {}) {
    this.policy = policy;
    this.#agent = new Agent({ connect: checkedConnector(options.resolve ?? systemResolver, { ...PUBLIC_ONLY, isDirect: (origin) => policy.isExplicitOrigin(origin) }) });
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
        const refused = errorIn(error, DownloadRefusedError);
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
