/**
 * Opens a download of an asset the upstream handed us. Redirects are followed by hand (at most
 * MAX_REDIRECTS), so that every hop passes through `checkAssetUrl` — the single place where the policy
 * on which URLs the gateway may fetch lives.
 */
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { DownloadFailedError, TransientDownloadError } from '../errors.ts';

export const MAX_REDIRECTS = 3;

export interface Download {
  body: Readable;
  contentType: string;
  /** From Content-Length, when the server sent one: the copy checks the bytes it got against it. */
  contentLength?: number;
}

export interface DownloadOptions {
  timeoutMs: number;
  maxBytes: number;
}

export function checkAssetUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DownloadFailedError('The upstream gave an asset URL that is not a valid URL.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new DownloadFailedError(`The upstream gave an asset URL with the unsupported scheme ${url.protocol}.`);
  }
  return url;
}

export async function openDownload(raw: string, options: DownloadOptions): Promise<Download> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  let url = checkAssetUrl(raw);
  for (let hop = 0; ; hop++) {
    let response: Response;
    try {
      response = await fetch(url, { redirect: 'manual', signal });
    } catch (error) {
      throw new TransientDownloadError(`The asset host ${url.host} could not be reached (${reasonOf(error)}).`, { cause: error });
    }
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel();
      if (hop >= MAX_REDIRECTS) throw new DownloadFailedError(`The asset URL redirected more than ${MAX_REDIRECTS} times.`);
      url = checkAssetUrl(new URL(location, url).href);
      continue;
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      const retryable = response.status === 408 || response.status === 429 || response.status >= 500;
      const message = `The asset host ${url.host} answered HTTP ${response.status}.`;
      throw retryable
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

export function reasonOf(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'timed out';
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : 'unknown error');
}
