import { describe, expect, it } from 'vitest';
import { secretArnForm, secretNameOf } from '../../../functions/commons/domain/upstream-key.ts';

describe('secret ARNs', () => {
  it.each([
    ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:luma-api-key-AbC123', 'complete'],
    ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:UpstreamKey3C2B1A9F-Qx7Zk2Wm9Vb4-AbCdEf', 'complete'],
    ['arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:prod/luma-XyZ789', 'complete'],
    ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:luma-api-key', 'partial'],
    ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/luma', 'partial'],
    ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:luma-AbC12', 'partial'],
    ['luma-api-key', undefined],
    ['arn:aws:secretsmanager:eu-west-1:123456789012:luma', undefined],
    ['arn:aws:ssm:eu-west-1:123456789012:secret:luma', undefined],
    ['arn:aws:secretsmanager:eu-west-1:123456789012:secret:luma key', undefined],
  ])('%s is %s', (arn, form) => {
    expect(secretArnForm(arn)).toBe(form);
  });

  it('a secret’s name is what follows "secret:", without the account; anything else is its own name', () => {
    expect(secretNameOf('arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/luma-AbC123')).toBe('prod/luma-AbC123');
    expect(secretNameOf('luma-api-key')).toBe('luma-api-key');
  });
});
