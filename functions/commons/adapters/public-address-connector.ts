/**
 * The connect-time half of the gateway's rule for URLs it did not make (an upstream's asset URL, a client's
 * webhook URL): a connection may go only to an address the caller's rule accepts (public unicast, see
 * policy/asset-policy.ts `addressRefusal`). Names are resolved through a lookup that refuses the
 * connection unless every address passes, and the address the socket actually connected to is checked
 * again; what was checked is what is connected to, so a DNS answer that changes between a request-time
 * check and the connect (rebinding) gains nothing. Used with undici's own fetch and Agent, so the two
 * always match.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { buildConnector } from 'undici';

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

/** undici's connector, with the rule's checks in front of it and after it; direct origins go straight through. */
export function checkedConnector(resolve: Resolver, rule: AddressRule): buildConnector.connector {
  const checked = buildConnector({ lookup: checkedLookup(resolve, rule) });
  const direct = buildConnector({});
  return (options, callback) => {
    let origin: URL;
    try {
      origin = new URL(`${options.protocol}//${options.host ?? options.hostname}`);
    } catch {
      return callback(rule.refuse(options.hostname, 'not a valid origin'), null);
    }
    if (rule.isDirect?.(origin)) return direct(options, callback);
    // A literal address is connected to without a lookup: check it here.
    const literal = options.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(literal)) {
      const refusal = rule.refusalOf(literal);
      if (refusal) return callback(rule.refuse(origin.host, refusal), null);
    }
    checked(options, (error, socket) => {
      if (error) return callback(error, null);
      // The address actually connected to, whatever produced it.
      const address = socket!.remoteAddress;
      const refusal = address ? rule.refusalOf(address) : 'the address is unknown';
      if (refusal) {
        socket!.destroy();
        return callback(rule.refuse(origin.host, `the connection went to a non-public address (${refusal})`), null);
      }
      callback(null, socket!);
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
