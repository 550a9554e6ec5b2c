import { describe, expect, it } from 'vitest';
import { redact, registerSecret } from '../../functions/commons/log.ts';

describe('redact', () => {
  it.each([
    ['Authorization: Bearer lvg_abcdefghijklmnop', 'lvg_abcdefghijklmnop'],
    ['{"authorization":"bearer sk-live-123456789"}', 'sk-live-123456789'],
    ['key lvg_Zx9_-abcdefgh in a message', 'lvg_Zx9_-abcdefgh'],
    ['{"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw+d/9Q=="}', 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw+d/9Q=='],
    ['https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=0123456789abcdef', '0123456789abcdef'],
    ['https://b.s3.amazonaws.com/k?X-Amz-Security-Token=FwoGZXIvYXdzEJr', 'FwoGZXIvYXdzEJr'],
    ['https://cdn.example/v.mp4?Signature=abcDEF123&Key-Pair-Id=K2ABC', 'abcDEF123'],
  ])('removes the secret from %s', (text, secret) => {
    const result = redact(text);
    expect(result).not.toContain(secret);
    expect(result).toContain('[redacted]');
  });

  it('removes a registered secret wherever it appears', () => {
    registerSecret('luma-9f8e7d6c5b4a');
    expect(redact('{"detail":"Invalid key luma-9f8e7d6c5b4a"}')).toBe('{"detail":"Invalid key [redacted]"}');
  });

  it('leaves ordinary text alone', () => {
    const text = '{"msg":"poll","taskId":"0b4f1c2e-0000-4000-8000-000000000000","next":"wait"}';
    expect(redact(text)).toBe(text);
  });
});
