/**
 * CORS for browser clients, off unless the operator names the origins (`corsAllowedOrigins`,
 * `CORS_ALLOWED_ORIGINS`). The API function answers it all, preflights included: the REST API sends every
 * method of every path to it, so one setting and one piece of code decide both the preflight and the
 * answer, and the local runtime, which runs the same function, plays it as deployed. (API Gateway's own
 * CORS, `defaultCorsPreflightOptions`, would add MOCK OPTIONS methods beside the function, whose request
 * templates break when every media type is binary, and a second copy of the origins to keep in step.)
 *
 * Keys travel in the `Authorization` header, never in cookies, so no credentials are allowed: a page of an
 * allowed origin can call the API only with a key it holds.
 */

/** The methods a browser may use, the headers it may send, and the headers it may read. */
export const CORS_ALLOWED_METHODS = ['GET', 'POST', 'DELETE'] as const;
export const CORS_ALLOWED_HEADERS = ['authorization', 'content-type', 'idempotency-key'] as const;
export const CORS_EXPOSED_HEADERS = ['x-request-id', 'retry-after', 'idempotent-replayed'] as const;
/** How long a browser may keep a preflight's answer (Chromium keeps at most 2 hours, Firefox 24). */
export const CORS_MAX_AGE_SECONDS = 600;

/**
 * The allowed origins from a setting (a list, or entries separated by commas): each exactly an origin,
 * `scheme://host[:port]` as a browser sends it, http or https. Throws, naming `setting`, on anything else:
 * `*`, a path, a trailing slash, credentials.
 */
export function parseAllowedOrigins(value: string | readonly string[] | undefined, setting: string): string[] {
  const entries = (typeof value === 'string' ? value.split(',') : [...(value ?? [])]).map((entry) => String(entry).trim()).filter(Boolean);
  for (const entry of entries) {
    let origin: string | undefined;
    try {
      const url = new URL(entry);
      if (url.protocol === 'http:' || url.protocol === 'https:') origin = url.origin;
    } catch {
      // reported below
    }
    if (origin !== entry) {
      throw new Error(
        `${setting}: "${entry}" is not an origin. Name each one as a browser sends it, scheme://host[:port] with no path or slash (e.g. https://app.example.com); "*" is not allowed.`,
      );
    }
  }
  return [...new Set(entries)];
}

/** Whether a request's `Origin` is one of the allowed ones (compared exactly, as browsers send it). */
export function originAllowed(origin: string | undefined, allowed: readonly string[]): origin is string {
  return origin !== undefined && allowed.includes(origin);
}

/** Whether a request is a CORS preflight: OPTIONS with an Origin and the method it asks for. */
export function isPreflight(method: string, headers: Readonly<Record<string, string>>): boolean {
  return method === 'OPTIONS' && headers.origin !== undefined && headers['access-control-request-method'] !== undefined;
}

/** The headers of a preflight answer for an allowed origin. */
export function preflightHeaders(origin: string): Record<string, string> {
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-methods': CORS_ALLOWED_METHODS.join(', '),
    'access-control-allow-headers': CORS_ALLOWED_HEADERS.join(', '),
    'access-control-max-age': String(CORS_MAX_AGE_SECONDS),
    vary: 'Origin',
  };
}

/**
 * The CORS headers of an answer: with CORS on, every answer varies by Origin; an allowed origin is named
 * and may read the headers a client needs. Nothing else for other origins, and nothing at all with CORS off.
 */
export function responseCorsHeaders(origin: string | undefined, allowed: readonly string[]): Record<string, string> {
  if (allowed.length === 0) return {};
  if (!originAllowed(origin, allowed)) return { vary: 'Origin' };
  return { 'access-control-allow-origin': origin, 'access-control-expose-headers': CORS_EXPOSED_HEADERS.join(', '), vary: 'Origin' };
}
