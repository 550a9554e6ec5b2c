/**
 * Which webhook URLs (`callback_url`) the gateway will call: the client's URL is fetched by the gateway
 * itself, so the asset downloads' rules apply (REFERENCE §5, SSRF): https only, no credentials, a public
 * address — a literal address is checked here, when the task is created; a name is checked at connect time,
 * on every address it resolves to and the one connected to (adapters/webhook-sender.ts), and no
 * redirect is followed. Locally (`npm start`), a receiver on this machine may be called too, over http or
 * https: loopback addresses only, never another private one. Pure.
 */
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { addressRefusal, bareHostname } from './asset-policy.ts';
import { carriesCredentials } from '../domain/url-credentials.ts';

export const CALLBACK_URL_MAX_LENGTH = 2048;

export interface CallbackPolicy {
  /** Receivers on loopback (127.0.0.0/8, ::1, localhost), over http too: the local runtime only. */
  allowLoopback: boolean;
}

export const DEPLOYED_CALLBACK_POLICY: CallbackPolicy = { allowLoopback: false };

/** Why the gateway will not call this URL (a message for the `callback_url` field), or undefined. */
export function callbackUrlProblem(raw: string, policy: CallbackPolicy): string | undefined {
  if (raw.length > CALLBACK_URL_MAX_LENGTH) return `must be at most ${CALLBACK_URL_MAX_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not a valid URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an https URL';
  if (carriesCredentials(url)) return 'must not carry credentials';
  const host = bareHostname(url);
  const loopback = isLoopbackName(host) || (isIP(host) !== 0 && isLoopbackAddress(host));
  if (loopback && policy.allowLoopback) return undefined;
  if (url.protocol !== 'https:') return policy.allowLoopback ? 'must be an https URL (http only on this machine: 127.0.0.1, ::1, localhost)' : 'must be an https URL';
  if (isLoopbackName(host)) return `must be on a public address (${host} is this machine)`;
  if (isIP(host)) {
    const refusal = addressRefusal(host);
    if (refusal) return `must be on a public address (${refusal})`;
  }
  return undefined;
}

/** The connect-time rule: why a delivery must not connect to `address` under `policy`, or undefined. */
export function callbackAddressRefusal(policy: CallbackPolicy): (address: string) => string | undefined {
  return (address) => (policy.allowLoopback && isLoopbackAddress(address) ? undefined : addressRefusal(address));
}

function isLoopbackName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost');
}

function isLoopbackAddress(address: string): boolean {
  try {
    const parsed = ipaddr.process(address); // IPv4-mapped IPv6 as its IPv4 address
    return parsed.range() === 'loopback';
  } catch {
    return false;
  }
}
