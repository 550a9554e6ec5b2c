/**
 * The per-task marker: `<public base URL>/luma/upstream-callbacks/<task id>/<token>`. It is sent with
 * every create as Luma's `callback_url`, the one free-form field Luma echoes back per request, so it is at
 * once how a listed generation is recognised as this task's (exactly, never by likeness) and where the
 * upstream reports progress. The token is 256 random bits: nobody can forge the URL of a task they have
 * not seen. Others who share the upstream account can read it in the account's list, which is why a
 * callback is only ever a hint and a copied marker never wins over the oldest generation carrying it.
 */
import { carriesCredentials } from './url-credentials.ts';
import { isGatewayId } from './ids.ts';

export const CALLBACK_PATH_PREFIX = '/luma/upstream-callbacks/';

/** base64url of 32 bytes. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export function markerUrl(publicBaseUrl: string, taskId: string, token: string): string {
  return `${publicBaseUrl.replace(/\/+$/, '')}${CALLBACK_PATH_PREFIX}${taskId}/${token}`;
}

/** The task id and token of a callback path, or undefined when the path is not one. */
export function parseCallbackPath(path: string): { taskId: string; token: string } | undefined {
  if (!path.startsWith(CALLBACK_PATH_PREFIX)) return undefined;
  const [taskId, token, ...rest] = path.slice(CALLBACK_PATH_PREFIX.length).split('/');
  if (rest.length > 0 || !taskId || !token || !isGatewayId(taskId) || !TOKEN.test(token)) return undefined;
  return { taskId, token };
}

export function isCallbackPath(path: string): boolean {
  return path.startsWith(CALLBACK_PATH_PREFIX);
}

/** True for http(s) URLs on a loopback host: 127.0.0.0/8, `localhost` and `[::1]`. */
export function isLoopbackUrl(value: string): boolean {
  let host: string;
  try {
    host = new URL(value).hostname.toLowerCase();
  } catch {
    return false;
  }
  return host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * Checks the public base URL the marker is built on, against the upstream it is sent to. An upstream
 * elsewhere must never be handed a loopback URL: it would call nobody, or worse, something of its own.
 * Returns a reason when the pair is unusable.
 */
export function publicBaseUrlProblem(publicBaseUrl: string, upstreamBaseUrl: string): string | undefined {
  let url: URL;
  try {
    url = new URL(publicBaseUrl);
  } catch {
    return `PUBLIC_BASE_URL must be an absolute URL, not "${publicBaseUrl}".`;
  }
  if (url.search || url.hash || carriesCredentials(url)) {
    return 'PUBLIC_BASE_URL must have no query, fragment or credentials.';
  }
  const loopback = isLoopbackUrl(publicBaseUrl);
  if (loopback && !isLoopbackUrl(upstreamBaseUrl)) {
    return `PUBLIC_BASE_URL ${url.origin} is a loopback address, which the upstream at ${new URL(upstreamBaseUrl).origin} cannot reach.`;
  }
  if (!loopback && url.protocol !== 'https:') return `PUBLIC_BASE_URL must be https, not ${url.protocol}.`;
  return undefined;
}

/**
 * The public base URL of a local run: the configured one, else the gateway's own URL when the upstream is
 * on loopback too (the simulated one), else none — a remote upstream is never handed a loopback URL.
 */
export function localPublicBaseUrl(configured: string | undefined, upstreamBaseUrl: string, gatewayUrl: string): string | undefined {
  const chosen = configured || (isLoopbackUrl(upstreamBaseUrl) ? gatewayUrl : undefined);
  const problem = chosen && publicBaseUrlProblem(chosen, upstreamBaseUrl);
  if (problem) throw new Error(problem);
  return chosen;
}
