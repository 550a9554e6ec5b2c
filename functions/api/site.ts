/**
 * The public pages, served without a key from the API's own origin: the OpenAPI document
 * (`GET /openapi.json`, for this deployment's offer) and the playground (`GET /` and its script and styles,
 * bundled at build time into playground-assets.generated.ts).
 *
 * The page's Content-Security-Policy allows scripts and styles from this origin only (the bundle has no
 * inline script), API calls to this origin, and the bucket's origin for what is presigned there: the
 * videos and thumbnails it shows and the keyframes it uploads.
 */
import { MethodNotAllowedError } from '../commons/errors.ts';
import { openApiDocument } from '../commons/domain/openapi.ts';
import type { GenerationOffer } from '../commons/domain/luma-options.ts';
import type { HttpRequest, HttpResponse } from './http.ts';
import { PLAYGROUND_ASSETS } from './playground-assets.generated.ts';

export interface Asset {
  contentType: string;
  body: string;
}

export interface SiteDeps {
  /** The OpenAPI document of this deployment, as JSON text. */
  openApiJson: () => string;
  /** The origin of the bucket's presigned links (`https://<bucket>.s3.<region>.amazonaws.com`, or the local emulator's). */
  mediaOrigin: () => Promise<string>;
}

export const OPENAPI_PATH = '/openapi.json';

/** The deployment's document and the bucket's origin, each made once, when first asked for. */
export function siteDeps(offer: GenerationOffer, media: { linkOrigin(): Promise<string> }): SiteDeps {
  let document: string | undefined;
  let origin: Promise<string> | undefined;
  return {
    openApiJson: () => (document ??= JSON.stringify(openApiDocument({ offer }))),
    mediaOrigin: () => (origin ??= media.linkOrigin().catch((error: unknown) => ((origin = undefined), Promise.reject(error)))),
  };
}

export function isSitePath(path: string): boolean {
  return path === OPENAPI_PATH || Object.hasOwn(PLAYGROUND_ASSETS, path);
}

/** The page's policy: nothing but this origin, and the bucket for media, thumbnails and uploads. */
export function playgroundCsp(mediaOrigin: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    // data: for the page's empty icon, which spares a request for /favicon.ico.
    `img-src 'self' data: ${mediaOrigin}`,
    `media-src ${mediaOrigin}`,
    `connect-src 'self' ${mediaOrigin}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The answer for a public path, or undefined when the path is not one. */
export async function serveSite(request: HttpRequest, deps: SiteDeps): Promise<HttpResponse | undefined> {
  const { method, path, requestId } = request;
  if (!isSitePath(path)) return undefined;
  if (method !== 'GET') throw new MethodNotAllowedError(`${method} is not supported here; use GET.`);
  const common = { 'x-request-id': requestId, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };
  if (path === OPENAPI_PATH) {
    return { statusCode: 200, headers: { ...common, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-cache' }, body: deps.openApiJson() };
  }
  const asset = PLAYGROUND_ASSETS[path]!;
  if (path !== '/') {
    // Named by their content's hash: a new build has new names.
    return { statusCode: 200, headers: { ...common, 'content-type': asset.contentType, 'cache-control': 'public, max-age=31536000, immutable' }, body: asset.body };
  }
  return {
    statusCode: 200,
    headers: {
      ...common,
      'content-type': asset.contentType,
      'cache-control': 'no-cache',
      'content-security-policy': playgroundCsp(await deps.mediaOrigin()),
      'cross-origin-opener-policy': 'same-origin',
      'x-frame-options': 'DENY',
    },
    body: asset.body,
  };
}
