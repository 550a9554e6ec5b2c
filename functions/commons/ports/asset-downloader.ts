/**
 * Downloads of the assets the upstream hands back (the finished video and its thumbnail): the one place the
 * gateway fetches a URL it did not make, so only what the operator's policy allows.
 */
import type { Readable } from 'node:stream';

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

export interface AssetDownloader {
  /** Checks a URL against the policy before anything is fetched; throws DownloadRefusedError naming the host. */
  checkAssetUrl(raw: string): URL;
  /**
   * Opens a download, following redirects the policy allows. Throws DownloadRefusedError (the policy),
   * TransientDownloadError (worth another try) or DownloadFailedError (never as it is).
   */
  open(raw: string, options: DownloadOptions): Promise<Download>;
}
