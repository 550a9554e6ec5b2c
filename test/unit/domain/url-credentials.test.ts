import { describe, expect, it } from 'vitest';
import { carriesCredentials } from '../../../functions/commons/domain/url-credentials.ts';
import { describeIssues, generationRequestSchema } from '../../../functions/commons/domain/generation-request.ts';
import { publicBaseUrlProblem } from '../../../functions/commons/domain/upstream-marker.ts';
import { AssetPolicy } from '../../../functions/commons/policy/asset-policy.ts';

describe('carriesCredentials', () => {
  it.each(['https://user@host.example/a', 'https://user:secret@host.example/', 'https://:secret@host.example/', 'http://u:p@127.0.0.1:4567'])(
    '%s carries credentials',
    (url) => expect(carriesCredentials(new URL(url))).toBe(true),
  );

  it.each(['https://host.example/a', 'https://host.example/@user', 'https://host.example/?user=a:b', 'https://host.example/#u:p@x'])(
    '%s does not',
    (url) => expect(carriesCredentials(new URL(url))).toBe(false),
  );

  it('is refused by every place that takes a URL', () => {
    const url = 'https://user:secret@cdn.example.com/frame.png';
    const parsed = generationRequestSchema.safeParse({ user_prompt: 'a cat on a mat', image_url: url });
    expect(parsed.success ? [] : describeIssues(parsed.error)).toEqual([{ field: 'image_url', message: 'URL must not carry credentials' }]);
    expect(generationRequestSchema.safeParse({ user_prompt: 'a cat on a mat', image_url: url.replace('user:secret@', '') }).success).toBe(true);
    expect(publicBaseUrlProblem('https://user:secret@gateway.example.com', 'https://api.lumalabs.ai')).toMatch(/credentials/);
    expect(() => AssetPolicy.parse('*.example.com').check(url)).toThrow(/credentials/);
    expect(() => AssetPolicy.parse('https://user:secret@cdn.example.com')).toThrow(/credentials/);
  });
});
