/**
 * The download policy: which addresses are refused, how ASSET_HOST_ALLOWLIST entries match,
 * the connect-time lookup guard (with a stand-in resolver: no DNS), and how a refusal is recorded.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { LookupAddress } from 'node:dns';
import { AssetPolicy, addressRefusal } from '../../../functions/commons/policy/asset-policy.ts';
import { guardedLookup, type Resolver } from '../../../functions/commons/adapters/asset-downloader.ts';
import { ConfigurationError, DownloadRefusedError } from '../../../functions/commons/errors.ts';
import { DEFAULT_ASSET_HOST_ALLOWLIST, settings } from '../../../functions/commons/config.ts';
import { FAILURE_CODES } from '../../../functions/commons/domain/failure.ts';
import { failureFromError } from '../../../functions/record-failure/failure-from-error.ts';

describe('addressRefusal: only public unicast addresses may be connected to', () => {
  it.each([
    ['127.0.0.1', /loopback/],
    ['127.255.255.254', /loopback/],
    ['10.0.0.1', /private/],
    ['10.255.255.255', /private/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.168.0.1', /private/],
    ['169.254.169.254', /link-local/],
    ['100.64.0.1', /carrier-grade NAT/],
    ['100.127.255.254', /carrier-grade NAT/],
    ['0.0.0.0', /unspecified/],
    ['0.1.2.3', /unspecified/],
    ['255.255.255.255', /broadcast/],
    ['224.0.0.1', /multicast/],
    ['192.0.2.10', /reserved/],
    ['::1', /loopback/],
    ['::', /unspecified/],
    ['fc00::1', /unique-local/],
    ['fd12:3456:789a::1', /unique-local/],
    ['fe80::1', /link-local/],
    ['febf:ffff::1', /link-local/],
    ['::ffff:127.0.0.1', /IPv4-mapped address \(of 127\.0\.0\.1, loopback\)/],
    ['::ffff:169.254.169.254', /IPv4-mapped address \(of 169\.254\.169\.254, link-local\)/],
    ['::ffff:10.0.0.1', /IPv4-mapped.*private/],
    ['::ffff:8.8.8.8', /IPv4-mapped address \(of 8\.8\.8\.8, public unicast\)/],
    ['64:ff9b::a00:1', /NAT64/],
    ['2002:7f00:1::1', /6to4/],
    ['ff02::1', /multicast/],
    ['not-an-address', /not an IP address/],
  ])('refuses %s', (address, reason) => {
    expect(addressRefusal(address)).toMatch(reason);
  });

  it.each(['8.8.8.8', '93.184.215.14', '1.1.1.1', '172.15.255.255', '172.32.0.1', '100.63.255.255', '100.128.0.1', '169.253.0.1', '2606:4700:4700::1111', '2a00:1450:4001:82b::200e'])(
    'allows the public address %s',
    (address) => {
      expect(addressRefusal(address)).toBeUndefined();
    },
  );
});

/**
 * IPv6 addresses that carry an IPv4 address inside them. None is public unicast: the connection would reach
 * (or be translated or tunnelled towards) an IPv4 host that the IPv6 ranges say nothing about. Each is
 * refused whatever it embeds, and where the prefix fixes where the IPv4 address sits, the reason names it.
 */
describe('addressRefusal: IPv6 addresses that embed IPv4', () => {
  it.each([
    // IPv4-compatible (::/96, deprecated by RFC 4291): ipaddr.js calls these unicast.
    ['::7f00:1', /IPv4-compatible address \(of 127\.0\.0\.1, loopback\)/],
    ['::a9fe:a9fe', /IPv4-compatible address \(of 169\.254\.169\.254, link-local\)/],
    ['::a00:1', /IPv4-compatible address \(of 10\.0\.0\.1, private\)/],
    ['::808:808', /IPv4-compatible address \(of 8\.8\.8\.8, public unicast\)/],
    ['::2', /IPv4-compatible address \(of 0\.0\.0\.2, unspecified\)/],
    // NAT64, well-known prefix (64:ff9b::/96, RFC 6052): the IPv4 address is the last 32 bits.
    ['64:ff9b::7f00:1', /NAT64 \(RFC 6052\) address \(of 127\.0\.0\.1, loopback\)/],
    ['64:ff9b::a9fe:a9fe', /NAT64 \(RFC 6052\) address \(of 169\.254\.169\.254, link-local\)/],
    ['64:ff9b::808:808', /NAT64 \(RFC 6052\) address \(of 8\.8\.8\.8, public unicast\)/],
    // NAT64, local-use prefix (64:ff9b:1::/48, RFC 8215): where the IPv4 address sits is the operator's choice.
    ['64:ff9b:1::a9fe:a9fe', /NAT64/],
    // 6to4 (2002::/16, deprecated by RFC 7526): the IPv4 address of the tunnel's end is bits 16 to 47.
    ['2002:7f00:1::1', /6to4 address \(of 127\.0\.0\.1, loopback\)/],
    ['2002:a9fe:a9fe::', /6to4 address \(of 169\.254\.169\.254, link-local\)/],
    ['2002:808:808::1', /6to4 address \(of 8\.8\.8\.8, public unicast\)/],
    // Teredo (2001::/32): the client's address is obfuscated; the whole range is refused.
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', /Teredo/],
    // IPv4-translated (::ffff:0:0:0/96, RFC 6145).
    ['::ffff:0:7f00:1', /IPv4-translated/],
  ])('refuses %s', (address, reason) => {
    expect(addressRefusal(address)).toMatch(reason);
  });

  it('still names :: and ::1 for what they are', () => {
    expect(addressRefusal('::')).toMatch(/unspecified/);
    expect(addressRefusal('::1')).toMatch(/loopback/);
  });

  const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
  const hex = ([a, b, c, d]: number[]) => [((a! << 8) | b!).toString(16), ((c! << 8) | d!).toString(16)];
  it.each([
    ['IPv4-compatible', ([a, b, c, d]: number[]) => `::${hex([a!, b!, c!, d!]).join(':')}`],
    ['IPv4-mapped', ([a, b, c, d]: number[]) => `::ffff:${hex([a!, b!, c!, d!]).join(':')}`],
    ['NAT64', ([a, b, c, d]: number[]) => `64:ff9b::${hex([a!, b!, c!, d!]).join(':')}`],
    ['6to4', ([a, b, c, d]: number[]) => `2002:${hex([a!, b!, c!, d!]).join(':')}::1`],
  ])('refuses every %s address, whatever IPv4 address it carries', (_, embed) => {
    fc.assert(fc.property(ipv4, (parts) => addressRefusal(embed(parts)) !== undefined), { numRuns: 2000 });
  });

  it('refuses them at connect time too', async () => {
    const resolver: Resolver = (_h, _o, callback) => callback(null, [{ address: '::a9fe:a9fe', family: 6 }]);
    const error = await new Promise<Error | null>((resolve) => guardedLookup(resolver)('assets.example', { all: true }, (e) => resolve(e)));
    expect(error).toBeInstanceOf(DownloadRefusedError);
    expect(error!.message).toMatch(/169\.254\.169\.254/);
  });
});

describe('AssetPolicy: ASSET_HOST_ALLOWLIST entries', () => {
  const policy = AssetPolicy.parse(' storage.cdn-luma.com , *.assets.example ,http://127.0.0.1:4567, https://media.example:8443,127.0.0.1,');

  it.each([
    'https://storage.cdn-luma.com/dream_machine/abc/video.mp4',
    'https://STORAGE.cdn-luma.com./dream_machine/abc/video.mp4',
    'https://storage.cdn-luma.com:8443/video.mp4',
    'https://a.assets.example/v.mp4',
    'https://deep.er.assets.example/v.mp4',
    'http://127.0.0.1:4567/assets/x/video.mp4',
    'https://media.example:8443/v.mp4',
  ])('allows %s', (url) => {
    expect(policy.check(url)).toBeInstanceOf(URL);
  });

  it.each([
    ['https://cdn-luma.com/video.mp4', /cdn-luma\.com: the host is not in ASSET_HOST_ALLOWLIST/],
    ['https://assets.example/v.mp4', /assets\.example: the host is not in/], // a wildcard does not cover its apex
    ['https://evilassets.example/v.mp4', /evilassets\.example: the host is not in/],
    ['https://storage.cdn-luma.com.evil.example/v.mp4', /storage\.cdn-luma\.com\.evil\.example: the host is not in/],
    ['http://storage.cdn-luma.com/v.mp4', /storage\.cdn-luma\.com: the scheme http: is not allowed/],
    ['ftp://storage.cdn-luma.com/v.mp4', /the scheme ftp: is not allowed/],
    ['file:///etc/passwd', /the scheme file: is not allowed/],
    ['http://127.0.0.1:4568/v.mp4', /127\.0\.0\.1:4568: the scheme http: is not allowed/], // another port
    ['https://127.0.0.1:4567/v.mp4', /127\.0\.0\.1:4567: 127\.0\.0\.1 is a loopback address/], // another scheme
    ['https://127.0.0.1/v.mp4', /127\.0\.0\.1: 127\.0\.0\.1 is a loopback address/], // a host entry never allows a private address
    ['https://0x7f.0.0.1/v.mp4', /127\.0\.0\.1 is a loopback address/], // the URL parser normalises odd IPv4 forms
    ['http://media.example/v.mp4', /media\.example: the scheme http: is not allowed/],
    ['https://media.example/v.mp4', /media\.example: the host is not in/], // an origin entry is that port only
    ['https://[::1]/v.mp4', /\[::1\]: the host is not in/],
    ['https://user:pass@storage.cdn-luma.com/v.mp4', /storage\.cdn-luma\.com: the URL carries credentials/],
    ['not a url', /not a valid URL/],
  ])('refuses %s', (url, message) => {
    expect(() => policy.check(url)).toThrow(DownloadRefusedError);
    expect(() => policy.check(url)).toThrow(message);
  });

  it('an IPv6 literal allowlisted as a host is still refused when it is not public', () => {
    const v6 = AssetPolicy.parse('[::1],[2606:4700:4700::1111]');
    expect(() => v6.check('https://[::1]/v.mp4')).toThrow(/::1 is a loopback address/);
    expect(v6.check('https://[2606:4700:4700::1111]/v.mp4').hostname).toBe('[2606:4700:4700::1111]');
  });

  it('knows an explicit origin only by its exact scheme, host and port (default ports normalised)', () => {
    const origins = AssetPolicy.parse('http://127.0.0.1:4567,https://media.example:443');
    expect(origins.isExplicitOrigin(new URL('http://127.0.0.1:4567/a'))).toBe(true);
    expect(origins.isExplicitOrigin(new URL('http://127.0.0.1:4568/a'))).toBe(false);
    expect(origins.isExplicitOrigin(new URL('http://localhost:4567/a'))).toBe(false);
    expect(origins.isExplicitOrigin(new URL('https://media.example/a'))).toBe(true);
    expect(origins.toString()).toBe('http://127.0.0.1:4567,https://media.example');
  });

  it.each(['*', '*.com', 'cdn.*.example', 'a/b', 'http://127.0.0.1:4567/path', 'http://x.example?q=1', 'ftp://x.example', 'http://u:p@x.example', 'host name'])(
    'rejects the malformed entry %s at configuration time',
    (entry) => {
      expect(() => AssetPolicy.parse(entry)).toThrow(ConfigurationError);
    },
  );

  it('defaults to the Luma asset hosts: host patterns only, so https and public addresses only', () => {
    expect(DEFAULT_ASSET_HOST_ALLOWLIST).toEqual(['*.cdn-luma.com']);
    expect(DEFAULT_ASSET_HOST_ALLOWLIST.some((entry) => entry.includes('://'))).toBe(false);
    const defaults = AssetPolicy.parse(DEFAULT_ASSET_HOST_ALLOWLIST);
    expect(defaults.check('https://storage.cdn-luma.com/dream_machine/x/video.mp4').host).toBe('storage.cdn-luma.com');
    expect(() => defaults.check('http://storage.cdn-luma.com/x.mp4')).toThrow(DownloadRefusedError);
    expect(() => defaults.check('http://127.0.0.1:4567/x.mp4')).toThrow(DownloadRefusedError);
  });
});

describe('settings.assetHostAllowlist', () => {
  const saved = process.env.ASSET_HOST_ALLOWLIST;
  afterEach(() => {
    if (saved === undefined) delete process.env.ASSET_HOST_ALLOWLIST;
    else process.env.ASSET_HOST_ALLOWLIST = saved;
  });

  it('is the Luma default when unset, and the variable when set', () => {
    delete process.env.ASSET_HOST_ALLOWLIST;
    expect(settings.assetHostAllowlist()).toBe('*.cdn-luma.com');
    process.env.ASSET_HOST_ALLOWLIST = 'storage.cdn-luma.com,http://127.0.0.1:4567';
    expect(settings.assetHostAllowlist()).toBe('storage.cdn-luma.com,http://127.0.0.1:4567');
  });
});

describe('guardedLookup: the connect-time DNS check', () => {
  const resolverOf =
    (addresses: string[]): Resolver =>
    (_hostname, _options, callback) =>
      callback(null, addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));

  function lookup(addresses: string[], all: boolean): Promise<{ error: Error | null; result: unknown }> {
    return new Promise((resolve) => {
      guardedLookup(resolverOf(addresses))('assets.example', { all }, (error: Error | null, address: string | LookupAddress[], family?: number) =>
        resolve({ error, result: all ? address : { address, family } }),
      );
    });
  }

  it('answers with every address when all are public', async () => {
    expect(await lookup(['93.184.215.14', '2606:4700:4700::1111'], true)).toEqual({
      error: null,
      result: [
        { address: '93.184.215.14', family: 4 },
        { address: '2606:4700:4700::1111', family: 6 },
      ],
    });
    expect(await lookup(['93.184.215.14'], false)).toEqual({ error: null, result: { address: '93.184.215.14', family: 4 } });
  });

  it.each([[['127.0.0.1']], [['93.184.215.14', '10.0.0.7']], [['::ffff:127.0.0.1']], [['169.254.169.254']], [[]]])(
    'fails the connection with DownloadRefusedError naming the host for %j',
    async (addresses) => {
      for (const all of [true, false]) {
        const { error } = await lookup(addresses, all);
        expect(error).toBeInstanceOf(DownloadRefusedError);
        expect(error!.message).toMatch(/^Refused to download from assets\.example: /);
      }
    },
  );

  it('passes a resolver error through (a DNS failure is transient, not a refusal)', async () => {
    const failing: Resolver = (_h, _o, callback) => callback(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }), []);
    const error = await new Promise<Error | null>((resolve) => guardedLookup(failing)('x.example', { all: true }, (e) => resolve(e)));
    expect(error).not.toBeInstanceOf(DownloadRefusedError);
    expect((error as NodeJS.ErrnoException).code).toBe('ENOTFOUND');
  });
});

describe('recording a refusal', () => {
  it('download_refused is a failure code of the public API', () => {
    expect(FAILURE_CODES).toContain('download_refused');
  });

  it('DownloadRefusedError → download_refused, with the host in the reason', () => {
    const message = 'Refused to download from localhost: it resolves to a non-public address (127.0.0.1 is a loopback address).';
    const failure = failureFromError({
      Error: 'DownloadRefusedError',
      Cause: JSON.stringify({ errorType: 'DownloadRefusedError', errorMessage: message }),
    });
    expect(failure).toEqual({ code: 'download_refused', reason: `The finished video was not downloaded: ${message}` });
  });

  it('DownloadRefusedError is permanent (not retryable) and named as the state machine matches it', () => {
    const error = new DownloadRefusedError('Refused to download from x.example: the host is not in ASSET_HOST_ALLOWLIST.');
    expect(error.name).toBe('DownloadRefusedError');
    expect(error.retryable).toBe(false);
    expect(error.code).toBe('download_refused');
  });
});
