import { createHash } from 'node:crypto';
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { OWNER_NAME, bearerToken, generateApiKey, hashApiKey, maskApiKey, newOwnerId } from '../../../functions/commons/domain/api-key.ts';

const KEY = 'lvg_0123456789abcdefABCDEF';

describe('generateApiKey', () => {
  it('is `lvg_` and 256 random bits (32 bytes, base64url), each key different', () => {
    const key = generateApiKey();
    expect(key).toMatch(/^lvg_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(key.slice('lvg_'.length), 'base64url')).toHaveLength(32);
    expect(generateApiKey()).not.toBe(key);
  });
});

describe('bearerToken', () => {
  it('reads the key from a Bearer header', () => {
    expect(bearerToken(`Bearer ${KEY}`)).toBe(KEY);
  });

  it('takes the scheme in any case, and tabs or several spaces around the key', () => {
    expect(bearerToken(`bearer ${KEY}`)).toBe(KEY);
    expect(bearerToken(`BEARER ${KEY}`)).toBe(KEY);
    expect(bearerToken(`Bearer \t  ${KEY}`)).toBe(KEY);
    expect(bearerToken(`Bearer ${KEY}  \t`)).toBe(KEY);
  });

  it('keeps any printable ASCII in the key', () => {
    const key = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
    expect(bearerToken(`Bearer ${key}`)).toBe(key);
  });

  it('accepts keys of 1 to 256 characters, so an operator’s own short local key works', () => {
    for (const key of ['d', 'dev', 'test', 'acc-key-alpha', 'k'.repeat(256)]) expect(bearerToken(`Bearer ${key}`)).toBe(key);
    expect(bearerToken(`Bearer ${'k'.repeat(257)}`)).toBeUndefined();
  });

  it('masks an operator’s key when it is shown back: never more than 4 characters, and never half of it', () => {
    expect(maskApiKey('acc-key-alpha')).toBe('acc-… (13 characters)');
    expect(maskApiKey('dev')).toBe('d… (3 characters)');
    expect(maskApiKey('k')).toBe('… (1 character)');
    fc.assert(
      fc.property(fc.stringMatching(/^[\x21-\x7e]{1,256}$/), (key) => {
        const shown = maskApiKey(key).split('…')[0]!;
        expect(shown.length).toBeLessThanOrEqual(Math.min(4, key.length / 2));
        expect(key.startsWith(shown)).toBe(true);
      }),
    );
  });

  it.each([
    ['absent', undefined],
    ['empty', ''],
    ['the scheme alone', 'Bearer'],
    ['the scheme and a space', 'Bearer '],
    ['no space after the scheme', `Bearer${KEY}`],
    ['another scheme', `Basic ${KEY}`],
    ['a bare key', KEY],
    ['leading whitespace', ` Bearer ${KEY}`],
    ['two words as the key', `Bearer ${KEY} ${KEY}`],
    ['a non-ASCII key', `Bearer ${KEY}é`],
    ['a control character', `Bearer ${KEY}\u0000`],
    ['a newline', `Bearer ${KEY}\nX-Injected: 1`],
    ['a scheme with a prefix', `XBearer ${KEY}`],
  ])('gives undefined for %s', (_name, header) => {
    expect(bearerToken(header)).toBeUndefined();
  });
});

describe('hashApiKey', () => {
  it('is the hex SHA-256 of the key’s UTF-8 bytes', () => {
    // FIPS 180-2 test vector.
    expect(hashApiKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hashApiKey('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hashApiKey('clé')).toBe(createHash('sha256').update(Buffer.from('clé', 'utf8')).digest('hex'));
  });

  it('is 64 lowercase hex characters, stable, and differs between keys', () => {
    const hash = hashApiKey(KEY);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hashApiKey(KEY)).toBe(hash);
    expect(hashApiKey(KEY + 'x')).not.toBe(hash);
    expect(hashApiKey(KEY.toLowerCase())).not.toBe(hash);
    expect(hash).not.toContain(KEY);
  });

  it('hashes what bearerToken extracts, so header whitespace does not change the hash', () => {
    expect(hashApiKey(bearerToken(`Bearer   ${KEY}  `)!)).toBe(hashApiKey(KEY));
  });
});

describe('newOwnerId', () => {
  it('is own_ and 128 random bits, different every time, and a valid owner name', () => {
    const ids = Array.from({ length: 1000 }, newOwnerId);
    for (const id of ids) {
      expect(id).toMatch(/^own_[0-9a-f]{32}$/);
      expect(OWNER_NAME.test(id)).toBe(true);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });
});
