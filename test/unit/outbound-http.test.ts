/**
 * The gateway's outgoing requests share one rule for "ask again later" and one way of describing a failure:
 * the upstream's API and the downloads of finished videos cannot disagree on either.
 */
import { describe, expect, it } from 'vitest';
import { describeNetworkError, isTransientHttpStatus } from '../../functions/commons/outbound-http.ts';
import { classifyErrorResponse } from '../../functions/commons/providers/luma.ts';
import { TransientUpstreamError } from '../../functions/commons/errors.ts';

describe('isTransientHttpStatus', () => {
  it.each([408, 409, 425, 429, 500, 502, 503, 504, 599])('%i: ask again later', (status) => {
    expect(isTransientHttpStatus(status)).toBe(true);
  });

  it.each([200, 301, 400, 401, 402, 403, 404, 410, 413, 415, 422, 451])('%i: the final word', (status) => {
    expect(isTransientHttpStatus(status)).toBe(false);
  });

  it('is what the upstream client retries', () => {
    for (let status = 400; status < 600; status++) {
      expect(classifyErrorResponse(status, undefined, null) instanceof TransientUpstreamError).toBe(isTransientHttpStatus(status));
    }
  });
});

describe('describeNetworkError', () => {
  it('says "timed out" for a timeout or an abort', () => {
    expect(describeNetworkError(new DOMException('signal timed out', 'TimeoutError'))).toBe('timed out');
    expect(describeNetworkError(Object.assign(new Error('aborted'), { name: 'AbortError' }))).toBe('timed out');
  });

  it('prefers the cause’s system code, then the cause’s message, then the error’s own', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    expect(describeNetworkError(new TypeError('fetch failed', { cause }))).toBe('ECONNREFUSED');
    expect(describeNetworkError(new TypeError('fetch failed', { cause: new Error('other side closed') }))).toBe('other side closed');
    expect(describeNetworkError(new Error('thumbnail too large'))).toBe('thumbnail too large');
    expect(describeNetworkError('not an error')).toBe('unknown error');
  });
});
