/**
 * Which URLs the gateway may download (server-side request forgery). The URLs come from the upstream, a third
 * party, so each one — and each redirect hop — must be on the operator's allowlist, and each address the
 * gateway connects to must be public unicast. This module is pure: `adapters/asset-downloader.ts` applies
 * it at request time (`check`) and at connect time (`addressRefusal`, on every resolved and connected
 * address).
 *
 * `ASSET_HOST_ALLOWLIST` is a comma-separated list of entries:
 * - `storage.cdn-luma.com`: exactly that host, over https, on any port;
 * - `*.cdn-luma.com`: any subdomain of it (not `cdn-luma.com` itself), over https;
 * - `http://127.0.0.1:4567`: exactly that origin (scheme, host and port), whatever its address. The only
 *   way to allow http or a loopback/private address: an explicit, narrow opt-in that no default contains
 *   (the local runtime adds its upstream's origin).
 * Any host entry still has its addresses checked: it is allowed only if it resolves to public unicast.
 */
import ipaddr from 'ipaddr.js';
import { isIP } from 'node:net';
import { ConfigurationError, DownloadRefusedError } from '../errors.ts';
import { carriesCredentials } from '../domain/url-credentials.ts';

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

type Entry = { kind: 'host'; host: string } | { kind: 'subdomains'; suffix: string } | { kind: 'origin'; origin: string };

export class AssetPolicy {
  readonly #entries: readonly Entry[];

  private constructor(entries: Entry[]) {
    this.#entries = entries;
  }

  /** Parses `ASSET_HOST_ALLOWLIST` (or a list of entries); a malformed entry throws ConfigurationError. */
  static parse(list: string | readonly string[]): AssetPolicy {
    const items = (typeof list === 'string' ? list.split(',') : list).map((item) => item.trim()).filter(Boolean);
    return new AssetPolicy(items.map(parseEntry));
  }

  /** The entries as written back to `ASSET_HOST_ALLOWLIST`, normalised. */
  toString(): string {
    return this.#entries.map((e) => (e.kind === 'host' ? e.host : e.kind === 'subdomains' ? `*.${e.suffix}` : e.origin)).join(',');
  }

  /** True when this exact origin (`scheme://host[:port]`) was opted in: its address is not checked. */
  isExplicitOrigin(url: URL): boolean {
    return this.#entries.some((entry) => entry.kind === 'origin' && entry.origin === url.origin);
  }

  /**
   * Checks a URL before any request: scheme, host, and, for an IP literal (which no DNS lookup sees),
   * its address. Returns the parsed URL; throws DownloadRefusedError naming the host.
   */
  check(raw: string): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new DownloadRefusedError('Refused to download an asset URL that is not a valid URL.');
    }
    const host = url.host || '(none)';
    if (carriesCredentials(url)) throw new DownloadRefusedError(`Refused to download from ${host}: the URL carries credentials.`);
    if (this.isExplicitOrigin(url)) return url;
    if (url.protocol !== 'https:') {
      throw new DownloadRefusedError(`Refused to download from ${host}: the scheme ${url.protocol} is not allowed (https only).`);
    }
    const hostname = bareHostname(url);
    if (!this.#entries.some((entry) => hostMatches(entry, hostname))) {
      throw new DownloadRefusedError(`Refused to download from ${host}: the host is not in ASSET_HOST_ALLOWLIST.`);
    }
    if (isIP(hostname)) {
      const refusal = addressRefusal(hostname);
      if (refusal) throw new DownloadRefusedError(`Refused to download from ${host}: ${refusal}.`);
    }
    return url;
  }
}

/** The hostname of a URL without IPv6 brackets or a trailing dot, lower case (the URL parser lowercases). */
export function bareHostname(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
}

/**
 * Why the gateway must not connect to this address, or undefined when it is public unicast. Everything
 * ipaddr.js does not classify as `unicast` is refused: loopback, private (10/8, 172.16/12, 192.168/16),
 * link-local (169.254/16, fe80::/10, so also the metadata address), CGNAT (100.64/10), unique-local
 * (fc00::/7), unspecified (0.0.0.0/8, ::), multicast, broadcast, reserved, and the IPv6 ranges that embed
 * or translate IPv4 (IPv4-mapped, NAT64, 6to4, Teredo). IPv4-compatible addresses (::/96), which ipaddr.js
 * counts as unicast, are refused as well.
 *
 * An IPv6 address that carries an IPv4 address is refused whatever it carries, also a public one: what it
 * reaches is decided by a translator or tunnel we cannot see (a NAT64 gateway in the operator's network
 * reaches that network's private space; a 6to4 address names a tunnel's end, not the host), and no CDN
 * needs them: the functions run outside any VPC, with IPv4. Where the prefix fixes where the IPv4 address
 * sits, the reason names it and its range.
 */
export function addressRefusal(address: string): string | undefined {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address);
  } catch {
    return `${address} is not an IP address`;
  }
  const range = parsed.range();
  if (parsed.kind() === 'ipv6') {
    const embedded = embeddedIPv4(parsed as ipaddr.IPv6, range);
    if (embedded) {
      return `${address} is ${embedded.article} ${embedded.name} address (of ${embedded.ipv4.toString()}, ${rangeName(embedded.ipv4.range())})`;
    }
  }
  return range === 'unicast' ? undefined : `${address} is a ${rangeName(range)} address`;
}

/** The IPv4 address inside an IPv6 address, for the prefixes that put it at a fixed place. */
function embeddedIPv4(address: ipaddr.IPv6, range: string): { name: string; article: string; ipv4: ipaddr.IPv4 } | undefined {
  const parts = address.parts;
  const ipv4Of = (high: number, low: number) => ipaddr.IPv4.parse(`${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`);
  const zeros = (from: number, to: number) => parts.slice(from, to).every((part) => part === 0);
  if (range === 'ipv4Mapped') return { name: 'IPv4-mapped', article: 'an', ipv4: address.toIPv4Address() };
  // ::/96, less :: and ::1, which keep their own names.
  if (zeros(0, 6) && range !== 'unspecified' && range !== 'loopback') {
    return { name: 'IPv4-compatible', article: 'an', ipv4: ipv4Of(parts[6]!, parts[7]!) };
  }
  // 64:ff9b::/96 (RFC 6052's well-known prefix); the local-use 64:ff9b:1::/48 places it as the operator chose.
  if (parts[0] === 0x64 && parts[1] === 0xff9b && zeros(2, 6)) {
    return { name: 'NAT64 (RFC 6052)', article: 'a', ipv4: ipv4Of(parts[6]!, parts[7]!) };
  }
  if (range === '6to4') return { name: '6to4', article: 'a', ipv4: ipv4Of(parts[1]!, parts[2]!) };
  return undefined;
}

function rangeName(range: string): string {
  const names: Record<string, string> = {
    unicast: 'public unicast',
    carrierGradeNat: 'carrier-grade NAT (100.64.0.0/10)',
    linkLocal: 'link-local',
    uniqueLocal: 'unique-local',
    private: 'private',
    loopback: 'loopback',
    unspecified: 'unspecified',
    ipv4Mapped: 'IPv4-mapped',
    rfc6052: 'NAT64 (RFC 6052)',
    rfc6145: 'IPv4-translated (RFC 6145)',
    teredo: 'Teredo (2001::/32)',
    '6to4': '6to4 (2002::/16)',
  };
  return names[range] ?? `non-public (${range})`;
}

function hostMatches(entry: Entry, hostname: string): boolean {
  if (entry.kind === 'host') return hostname === entry.host;
  if (entry.kind === 'subdomains') return hostname.endsWith(`.${entry.suffix}`);
  return false;
}

function parseEntry(raw: string): Entry {
  const text = raw.toLowerCase();
  const fail = (why: string): never => {
    throw new ConfigurationError(`ASSET_HOST_ALLOWLIST entry "${raw}" ${why}.`);
  };
  if (text.includes('://')) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return fail('is not a valid origin');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') fail('must be an http or https origin');
    if (carriesCredentials(url) || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
      fail('must be an origin only (scheme://host[:port]), without path, query or credentials');
    }
    return { kind: 'origin', origin: url.origin };
  }
  if (text.startsWith('*.')) {
    const suffix = text.slice(2);
    if (!HOSTNAME.test(suffix) || !suffix.includes('.')) fail('must be *.<domain> with at least two labels, like *.cdn-luma.com');
    return { kind: 'subdomains', suffix };
  }
  if (text.includes('*')) fail('may use a wildcard only as a leading "*."');
  const host = text.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  if (!HOSTNAME.test(host) && !isIP(host)) fail('is not a host name (write an origin such as http://127.0.0.1:4567 to allow one exact origin)');
  return { kind: 'host', host };
}
