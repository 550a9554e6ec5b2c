/**
 * How the Luma adapter reads the upstream's answers, and how a failure becomes a failure code: pure
 * functions, no server. LumaProvider over HTTP is in test/integration/luma-provider.test.ts.
 */
import { describe, it, expect } from 'vitest';
import { classifyErrorResponse, parseRetryAfter } from '../../../functions/commons/providers/luma.ts';
import { TransientUpstreamError, UpstreamRejectedError } from '../../../functions/commons/errors.ts';
import { classifyUpstreamFailure } from '../../../functions/commons/domain/failure.ts';
import { failureFromError } from '../../../functions/record-failure/failure-from-error.ts';

// --------------------------------------------------------------------------------------- classifyErrorResponse

describe('classifyErrorResponse', () => {
  it.each([400, 422])('%i: the request was at fault; the client sees the same status', (status) => {
    const error = classifyErrorResponse(status, 'Prompt is required', null);
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect(error).toMatchObject({ status, failureCode: 'upstream_rejected', code: 'upstream_rejected', retryable: false });
    expect(error.message).toContain(`HTTP ${status}`);
    expect(error.message).toContain('Prompt is required');
  });

  it.each([401, 403])('%i: the gateway’s key was refused; 502 and a message for the operator', (status) => {
    const error = classifyErrorResponse(status, 'Invalid token', null);
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect(error).toMatchObject({ status: 502, failureCode: 'upstream_rejected', retryable: false });
    expect(error.message).toMatch(/API key/);
    expect(error.message).not.toContain('Invalid token');
  });

  it('404: permanent, 502', () => {
    const error = classifyErrorResponse(404, undefined, null);
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect(error).toMatchObject({ status: 502, failureCode: 'upstream_rejected' });
  });

  it.each([408, 409, 425, 429, 500, 502, 503, 504])('%i: transient', (status) => {
    const error = classifyErrorResponse(status, 'busy', null);
    expect(error).toBeInstanceOf(TransientUpstreamError);
    expect(error).toMatchObject({ retryable: true, status: 503, code: 'upstream_unavailable', retryAfterSeconds: undefined });
    expect(error.message).toBe(`The upstream answered ${status}: busy.`);
  });

  it('429 with Retry-After in seconds', () => {
    expect(classifyErrorResponse(429, undefined, '30')).toMatchObject({ retryAfterSeconds: 30 });
    expect(classifyErrorResponse(503, undefined, '0')).toMatchObject({ retryAfterSeconds: 0 });
  });

  it('429 with Retry-After as an HTTP-date', () => {
    const inTwoMinutes = new Date(Date.now() + 120_000).toUTCString();
    const { retryAfterSeconds } = classifyErrorResponse(429, undefined, inTwoMinutes) as TransientUpstreamError;
    expect(retryAfterSeconds).toBeGreaterThan(115);
    expect(retryAfterSeconds).toBeLessThanOrEqual(120);
    const past = new Date(Date.now() - 60_000).toUTCString();
    expect(classifyErrorResponse(429, undefined, past)).toMatchObject({ retryAfterSeconds: 0 });
    expect(classifyErrorResponse(429, undefined, 'soon')).toMatchObject({ retryAfterSeconds: undefined });
  });

  it.each(['Prompt failed moderation', 'Frame moderation failed', 'Prompt contains blacklisted words', 'NSFW content detected'])(
    'a moderation detail (%s) gives failureCode moderation',
    (detail) => {
      for (const status of [400, 422]) {
        expect(classifyErrorResponse(status, detail, null)).toMatchObject({ status, failureCode: 'moderation', code: 'moderation' });
      }
    },
  );

  it('405 "Method Not Allowed" is not moderation', () => {
    expect(classifyErrorResponse(405, 'Method Not Allowed', null)).toMatchObject({ failureCode: 'upstream_rejected' });
  });

  it.each([
    'Prompt not allowed',
    'Prompt not allowed: it may infringe intellectual property',
    'Request refused: copyrighted character',
    'Trademark detected in prompt',
    'Prompt not allowed (IP)',
    'Advanced prompt moderation failed',
    'Contains blacklisted words',
  ])('a refused prompt (%s) at submit is moderation, answered with the client’s own 400', (detail) => {
    expect(classifyErrorResponse(400, detail, null)).toMatchObject({ status: 400, failureCode: 'moderation' });
  });

  describe('the operator’s account, not the request, is at fault: 502 upstream_rejected with a hint for the operator', () => {
    it.each([
      [402, 'Payment required'],
      [402, undefined],
      [400, 'Insufficient credits'],
      [403, 'Not enough credits to run this generation'],
      [400, 'Your credit balance is too low'],
      [400, 'Billing issue: update your payment method'],
      [422, 'This feature requires a higher plan'],
      [400, 'No active subscription'],
      [400, 'Model ray-flash-2 is not available for this account'],
      [400, 'model ray-2 not allowed for your plan'],
      [403, 'You do not have access to this model'],
      [422, 'Resolution 4k is not available for your tier'],
    ])('%i %j', (status, detail) => {
      const error = classifyErrorResponse(status, detail, null);
      expect(error).toBeInstanceOf(UpstreamRejectedError);
      expect(error).toMatchObject({ status: 502, failureCode: 'upstream_rejected', retryable: false });
      expect(error.message).toMatch(/The operator must check the upstream account's credits and plan/);
      expect(error.message).not.toMatch(/API key/);
      expect(error.message).toContain(`HTTP ${status}`);
      if (detail) expect(error.message).toContain(detail);
    });

    it('a request the client got wrong stays the client’s 400, without the operator hint', () => {
      for (const detail of ['Prompt is required', 'Loop is not supported for end frame', 'Invalid aspect_ratio "2:1"']) {
        const error = classifyErrorResponse(400, detail, null);
        expect(error).toMatchObject({ status: 400, failureCode: 'upstream_rejected' });
        expect(error.message).not.toMatch(/operator/i);
      }
    });
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-05-23T07:05:23.000Z');
  it('reads seconds and HTTP-dates against the given clock', () => {
    expect(parseRetryAfter('120', now)).toBe(120);
    expect(parseRetryAfter('Fri, 23 May 2025 07:06:23 GMT', now)).toBe(60);
    expect(parseRetryAfter('Fri, 23 May 2025 07:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter('later', now)).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------- classifyUpstreamFailure

describe('classifyUpstreamFailure', () => {
  it.each([
    'Prompt failed moderation',
    'frame moderation failed',
    'Your prompt contains blacklisted words',
    'This content is not allowed',
    'Unsafe content',
    'nsfw',
    'Inappropriate image',
  ])('%s → moderation', (reason) => {
    expect(classifyUpstreamFailure(reason)).toEqual({ code: 'moderation', reason });
  });

  it.each(['Internal error', 'GPU out of memory'])('%s → upstream_failed', (reason) => {
    expect(classifyUpstreamFailure(reason)).toEqual({ code: 'upstream_failed', reason });
  });

  describe('Luma’s own failure reasons', () => {
    it.each([
      ['Contains blacklisted words', 'moderation'],
      ['Frame moderation failed', 'moderation'],
      ['Advanced prompt moderation failed', 'moderation'],
      ['Prompt not allowed', 'moderation'],
      ['Prompt not allowed: intellectual property', 'moderation'],
      ['The prompt references copyrighted material', 'moderation'],
      ['Trademarked content', 'moderation'],
      ['Prompt refused (IP)', 'moderation'],
      ['Job failed', 'upstream_failed'],
      ['Error dispatching job', 'upstream_failed'],
    ] as const)('%s → %s', (reason, code) => {
      expect(classifyUpstreamFailure(reason).code).toBe(code);
    });

    it.each(['Job failed', 'Error dispatching job', 'job failed: worker lost'])('%s is a fault upstream a new submit may not meet: resubmittable', (reason) => {
      expect(classifyUpstreamFailure(reason)).toEqual({ code: 'upstream_failed', reason, resubmittable: true });
    });

    it('no other failure is resubmittable', () => {
      for (const reason of ['Internal error', 'Contains blacklisted words', 'Failed to read user input frames', 'Prompt not allowed', undefined]) {
        expect(classifyUpstreamFailure(reason).resubmittable).toBeUndefined();
      }
    });

    it('"IP" means intellectual property only as a word, and not an IP address', () => {
      expect(classifyUpstreamFailure('Could not resolve IP address of the worker').code).toBe('upstream_failed');
      expect(classifyUpstreamFailure('Pipeline stalled').code).toBe('upstream_failed');
    });
  });

  describe('an unreadable keyframe: whose link was it?', () => {
    const UNREADABLE = 'Failed to read user input frames';

    it.each([[[]], [['url']], [['url', 'url']], [['url', 'stored']]] as const)(
      'with keyframes %j (a client URL among them): the client’s to fix, upstream_rejected, with a hint',
      (kinds) => {
        const failure = classifyUpstreamFailure(UNREADABLE, kinds);
        expect(failure.code).toBe('upstream_rejected');
        expect(failure.reason).toMatch(/^Failed to read user input frames .*keyframe URLs are public images/);
      },
    );

    it.each([[['stored']], [['stored', 'stored']]] as const)('with keyframes %j, all stored by the gateway: internal, naming its presigned link', (kinds) => {
      const failure = classifyUpstreamFailure(UNREADABLE, kinds);
      expect(failure.code).toBe('internal');
      expect(failure.reason).toMatch(/^Failed to read user input frames/);
      expect(failure.reason).toMatch(/gateway's presigned link/);
      expect(failure.reason).not.toMatch(/public images/);
    });

    it('the keyframe kinds change nothing else', () => {
      expect(classifyUpstreamFailure('Frame moderation failed', ['stored']).code).toBe('moderation');
      expect(classifyUpstreamFailure('Job failed', ['stored']).code).toBe('upstream_failed');
    });
  });

  it('a failure that names the operator’s account is upstream_rejected, with a hint for the operator', () => {
    const failure = classifyUpstreamFailure('Insufficient credits');
    expect(failure.code).toBe('upstream_rejected');
    expect(failure.reason).toMatch(/^Insufficient credits .*operator/);
  });

  it('trims the reason, and explains a missing one', () => {
    expect(classifyUpstreamFailure('  Internal error \n')).toEqual({ code: 'upstream_failed', reason: 'Internal error' });
    for (const missing of [undefined, '', '   ']) {
      const failure = classifyUpstreamFailure(missing);
      expect(failure.code).toBe('upstream_failed');
      expect(failure.reason).toMatch(/without a reason/);
    }
  });
});

// -------------------------------------------------------------------------------------------- failureFromError

describe('failureFromError', () => {
  const cause = (errorType: string, errorMessage: unknown) => JSON.stringify({ errorType, errorMessage, trace: ['at x'] });

  it('TransientUpstreamError → upstream_unavailable, quoting the last message', () => {
    const failure = failureFromError({ Error: 'TransientUpstreamError', Cause: cause('TransientUpstreamError', 'The upstream answered 503.') });
    expect(failure.code).toBe('upstream_unavailable');
    expect(failure.reason).toBe('The upstream kept failing after several retries (last: The upstream answered 503.). Try again later.');
  });

  it.each(['TransientDownloadError', 'DownloadFailedError'])('%s → download_failed, quoting the message', (name) => {
    expect(failureFromError({ Error: name, Cause: cause(name, 'The file is not an MP4.') })).toEqual({
      code: 'download_failed',
      reason: 'The finished video could not be stored: The file is not an MP4.',
    });
  });

  it('TransientAwsError → internal, quoting our own message (service and error name only)', () => {
    const message = 'DynamoDB answered ProvisionedThroughputExceededException through every retry; the step will be tried again.';
    const failure = failureFromError({ Error: 'TransientAwsError', Cause: cause('TransientAwsError', message) });
    expect(failure.code).toBe('internal');
    expect(failure.reason).toContain(`(last: ${message})`);
  });

  it('States.Timeout → deadline_exceeded', () => {
    expect(failureFromError({ Error: 'States.Timeout', Cause: '' }).code).toBe('deadline_exceeded');
  });

  it.each(['TypeError', 'States.TaskFailed', 'Lambda.Unknown', 'Sandbox.Timedout', 'InvalidTransitionError'])(
    '%s → internal, by name only',
    (name) => {
      const failure = failureFromError({ Error: name, Cause: cause(name, 'secret stack details /var/task/index.mjs') });
      expect(failure.code).toBe('internal');
      expect(failure.reason).toContain(`(${name})`);
      expect(failure.reason).not.toContain('secret stack details');
    },
  );

  it('no error at all → internal, named unknown', () => {
    for (const caught of [undefined, {}]) {
      const failure = failureFromError(caught);
      expect(failure.code).toBe('internal');
      expect(failure.reason).toContain('(unknown)');
    }
  });

  it('caps a long error name', () => {
    const failure = failureFromError({ Error: 'E'.repeat(10_000) });
    expect(failure.reason).toContain('E'.repeat(100));
    expect(failure.reason).not.toContain('E'.repeat(101));
  });

  it.each([
    ['not JSON', 'Task timed out after 30.00 seconds'],
    ['JSON without errorMessage', '{"errorType":"X"}'],
    ['a non-string errorMessage', cause('X', { nested: true })],
    ['JSON null', 'null'],
    ['a JSON string', '"just text"'],
    ['empty', ''],
  ])('a malformed Cause (%s) is ignored, not echoed, and does not throw', (_name, malformed) => {
    expect(failureFromError({ Error: 'TransientUpstreamError', Cause: malformed })).toEqual({
      code: 'upstream_unavailable',
      reason: 'The upstream kept failing after several retries. Try again later.',
    });
    expect(failureFromError({ Error: 'DownloadFailedError', Cause: malformed })).toEqual({
      code: 'download_failed',
      reason: 'The finished video could not be stored.',
    });
  });
});
