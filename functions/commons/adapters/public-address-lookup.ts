/**
 * The name-resolution half of the gateway's rule for URLs it did not make (an upstream's asset URL, a
 * client's webhook URL): a lookup that refuses the connection unless every address of the name passes the
 * caller's rule (public unicast, see policy/asset-policy.ts `addressRefusal`), handed to Node's http and
 * https clients by the copy's downloads (asset-downloader.ts) and the webhook sender (webhook-sender.ts).
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';

/** Resolves a host name to all its addresses: `dns.lookup` with `all: true`, or a stand-in in tests. */
export type Resolver = (
  hostname: string,
  options: { all: true; family?: number; hints?: number },
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

export const systemResolver: Resolver = (hostname, options, callback) => dnsLookup(hostname, options, callback);

export interface AddressRule {
  /** Why the gateway must not connect to `address`, or undefined when it may. */
  refusalOf(address: string): string | undefined;
  /** The error a refused connection fails with; `host` is what was asked for, `why` the refusal. */
  refuse(host: string, why: string): Error;
  /** Origins connected to as they are, unchecked: an operator's explicit opt-in. @default none */
  isDirect?(origin: URL): boolean;
}

/**
 * A name lookup that answers only when every address of the name passes the rule, and otherwise fails the
 * connection before any socket is opened.
 */
export function checkedLookup(resolve: Resolver, rule: AddressRule): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { all: true, family: options.family === undefined ? undefined : Number(options.family), hints: options.hints }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const refusal = addresses.map(({ address }) => rule.refusalOf(address)).find(Boolean);
      if (refusal || addresses.length === 0) {
        const why = refusal ? `it resolves to a non-public address (${refusal})` : 'it has no address';
        return callback(rule.refuse(hostname, why), '', 0);
      }
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

/** fetch reports a connect failure as `TypeError: fetch failed` with the connector's error as its cause. */
export function errorIn<E extends Error>(error: unknown, type: new (...args: never[]) => E): E | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [error];
  while (queue.length > 0) {
    const next = queue.shift();
    if (!next || typeof next !== 'object' || seen.has(next)) continue;
    seen.add(next);
    if (next instanceof type) return next;
    queue.push((next as { cause?: unknown }).cause, ...((next as { errors?: unknown[] }).errors ?? []));
  }
  return undefined;
}
