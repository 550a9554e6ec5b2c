/**
 * The connect-time half of the gateway's rule for URLs it did not make (an upstream's asset URL, a client's
 * webhook URL): a connection may go only to an address the caller's rule accepts (public unicast, see
 * policy/asset-policy.ts `addressRefusal`). Names are resolved through the rule's lookup
 * (public-address-lookup.ts), and the address the socket actually connected to is checked again; what was
 * checked is what is connected to, so a DNS answer that changes between a request-time check and the
 * connect (rebinding) gains nothing. Used with undici's own fetch and Agent, so the two always match.
 */
import { isIP } from 'node:net';
import { buildConnector } from 'undici';
import { checkedLookup, type AddressRule, type Resolver } from './public-address-lookup.ts';

export { checkedLookup, errorIn, systemResolver, type AddressRule, type Resolver } from './public-address-lookup.ts';

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
