/**
 * CORS decisions, pure: which origins a setting names, what a preflight and an answer carry.
 */
import { describe, expect, it } from 'vitest';
import {
  isPreflight,
  originAllowed,
  parseAllowedOrigins,
  preflightHeaders,
  responseCorsHeaders,
} from '../../../functions/commons/domain/cors.ts';

const APP = 'https://app.example.test';

describe('parseAllowedOrigins', () => {
  it('takes origins as browsers send them, from a list or separated by commas, once each', () => {
    expect(parseAllowedOrigins(undefined, 'x')).toEqual([]);
    expect(parseAllowedOrigins('', 'x')).toEqual([]);
    expect(parseAllowedOrigins(` ${APP} ,http://localhost:5173,${APP}`, 'x')).toEqual([APP, 'http://localhost:5173']);
    expect(parseAllowedOrigins([APP, 'https://b.example.test:8443'], 'x')).toEqual([APP, 'https://b.example.test:8443']);
  });

  it.each(['*', 'app.example.test', `${APP}/`, `${APP}/path`, 'https://user@app.example.test', 'ftp://app.example.test', 'HTTPS://APP.EXAMPLE.TEST', 'null'])(
    'refuses %s, naming the setting',
    (entry) => {
      expect(() => parseAllowedOrigins(entry, 'CORS_ALLOWED_ORIGINS')).toThrow(/^CORS_ALLOWED_ORIGINS: ".*" is not an origin/);
    },
  );
});

describe('answers', () => {
  it('a preflight is OPTIONS with an Origin and Access-Control-Request-Method', () => {
    expect(isPreflight('OPTIONS', { origin: APP, 'access-control-request-method': 'POST' })).toBe(true);
    expect(isPreflight('OPTIONS', { origin: APP })).toBe(false);
    expect(isPreflight('OPTIONS', { 'access-control-request-method': 'POST' })).toBe(false);
    expect(isPreflight('POST', { origin: APP, 'access-control-request-method': 'POST' })).toBe(false);
  });

  it('an allowed origin is matched exactly; two Origin headers joined are none', () => {
    expect(originAllowed(APP, [APP])).toBe(true);
    expect(originAllowed(`${APP}.evil.test`, [APP])).toBe(false);
    expect(originAllowed(`${APP}, ${APP}`, [APP])).toBe(false);
    expect(originAllowed(undefined, [APP])).toBe(false);
  });

  it('a preflight names the origin, the methods, the request headers, how long to keep it, and varies by Origin', () => {
    expect(preflightHeaders(APP)).toEqual({
      'access-control-allow-origin': APP,
      'access-control-allow-methods': 'GET, POST, DELETE',
      'access-control-allow-headers': 'authorization, content-type, idempotency-key',
      'access-control-max-age': '600',
      vary: 'Origin',
    });
  });

  it('an answer names an allowed origin only; with CORS on, every answer varies by Origin; with it off, nothing', () => {
    expect(responseCorsHeaders(APP, [APP])).toEqual({
      'access-control-allow-origin': APP,
      'access-control-expose-headers': 'x-request-id, retry-after, idempotent-replayed',
      vary: 'Origin',
    });
    expect(responseCorsHeaders('https://other.example.test', [APP])).toEqual({ vary: 'Origin' });
    expect(responseCorsHeaders(undefined, [APP])).toEqual({ vary: 'Origin' });
    expect(responseCorsHeaders(APP, [])).toEqual({});
  });
});
