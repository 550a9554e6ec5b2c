/**
 * The body limits and the arithmetic behind them: every body the API accepts makes an event Lambda takes,
 * and the largest request the schema accepts (two inline keyframes at their limit, a prompt at its worst)
 * is a body the API accepts.
 */
import { describe, expect, it } from 'vitest';
import {
  API_GATEWAY_MAX_BODY_BYTES,
  BODY_BESIDES_KEYFRAMES_BYTES,
  EVENT_ENVELOPE_BYTES,
  LAMBDA_SYNC_PAYLOAD_BYTES,
  MAX_BODY_BYTES,
  MAX_INLINE_KEYFRAME_BYTES,
  MAX_UPLOAD_BYTES,
  base64Length,
  describeBytes,
} from '../../../functions/commons/domain/payload-limits.ts';
import { DATA_URI_HEADER_MAX_LENGTH, PROMPT_MAX_LENGTH, generationRequestSchema } from '../../../functions/commons/domain/generation-request.ts';
import { parseJsonBody } from '../../../functions/api/http.ts';
import { PayloadTooLargeError } from '../../../functions/commons/errors.ts';
import { pngOfSize } from '../../support/png.ts';

describe('the body limit', () => {
  it('is what Lambda’s 6 MB event carries as Base64, with the envelope allowance: 4,325,376 bytes', () => {
    expect(MAX_BODY_BYTES).toBe(4_325_376);
    expect(base64Length(MAX_BODY_BYTES) + EVENT_ENVELOPE_BYTES).toBeLessThanOrEqual(LAMBDA_SYNC_PAYLOAD_BYTES);
    // Not needlessly small: three bytes more would no longer fit.
    expect(base64Length(MAX_BODY_BYTES + 3) + EVENT_ENVELOPE_BYTES).toBeGreaterThan(LAMBDA_SYNC_PAYLOAD_BYTES);
    expect(MAX_BODY_BYTES).toBeLessThan(API_GATEWAY_MAX_BODY_BYTES);
  });

  it('is enforced by the API with a 413 that names it', () => {
    const request = (bytes: number) => ({
      method: 'POST',
      path: '/luma/generations',
      headers: { 'content-type': 'application/json' },
      query: {},
      body: Buffer.from(JSON.stringify({ user_prompt: 'x'.repeat(bytes - '{"user_prompt":""}'.length) })),
      requestId: 'r',
    });
    expect(() => parseJsonBody(request(MAX_BODY_BYTES))).not.toThrow();
    expect(() => parseJsonBody(request(MAX_BODY_BYTES + 1))).toThrow(PayloadTooLargeError);
    expect(() => parseJsonBody(request(MAX_BODY_BYTES + 1))).toThrow(/at most 4325376 bytes \(4\.125 MiB\).*POST \/luma\/uploads/);
  });
});

describe('inline keyframes', () => {
  it('two at their limit, with every other field at its worst, make a body under the body limit', () => {
    expect(2 * base64Length(MAX_INLINE_KEYFRAME_BYTES) + BODY_BESIDES_KEYFRAMES_BYTES).toBeLessThanOrEqual(MAX_BODY_BYTES);
    // The longest data URI header the schema takes: 256 characters between `data:` and the comma.
    const parameters = 'a=;'.repeat(Math.floor((DATA_URI_HEADER_MAX_LENGTH - 'image/png;base64'.length) / 3));
    const header = `data:image/png;${parameters}${'x'.repeat(DATA_URI_HEADER_MAX_LENGTH - 'image/png;base64'.length - parameters.length)}base64`;
    expect(header.length).toBe('data:'.length + DATA_URI_HEADER_MAX_LENGTH);
    const frame = `${header},${pngOfSize(MAX_INLINE_KEYFRAME_BYTES).toString('base64')}`;
    const body = JSON.stringify({
      // Control characters are escaped to six bytes each: the longest a 5,000-character prompt can be as JSON.
      user_prompt: `abc${'\u0001'.repeat(PROMPT_MAX_LENGTH - 3)}`,
      expand_prompt: true,
      aspect_ratio: '16:9',
      model: 'ray-flash-2',
      resolution: '1080p',
      duration: '5s',
      image_url: frame,
      image_end_url: frame,
    });
    expect(generationRequestSchema.safeParse(JSON.parse(body)).success).toBe(true);
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_BODY_BYTES);
  });
});

describe('describeBytes', () => {
  it('names bytes and MiB', () => {
    expect(describeBytes(MAX_BODY_BYTES)).toBe('4325376 bytes (4.125 MiB)');
    expect(describeBytes(MAX_INLINE_KEYFRAME_BYTES)).toBe('1572864 bytes (1.5 MiB)');
    expect(describeBytes(MAX_UPLOAD_BYTES)).toBe('20971520 bytes (20 MiB)');
  });
});
