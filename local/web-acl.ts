/**
 * Stands in for the AWS WAF web ACL on the API's stage: reads its rate-based rules from the synthesized
 * template (the one place the limits are set) and applies them to each request before API Gateway does
 * anything else, answering a blocked request with the rule's custom response.
 *
 * At least as strict as WAF: WAF counts requests approximately and checks the rate every few seconds, so a
 * client may get somewhat past its limit before it is blocked; here every request is counted exactly over
 * the trailing window, and the first request over the limit is blocked. As in WAF, a request the rule
 * evaluates counts, blocked or not (a client that keeps sending stays blocked until its rate drops), a rule
 * after the one that blocked a request does not see it, and a request without the header a rule is keyed on
 * is not counted by that rule.
 *
 * Only the shapes the stack uses are understood (IP or one header as the key, Block with a custom
 * response); anything else in the template throws, rather than being silently not enforced.
 */
import { createHash } from 'node:crypto';
import { findResources, type Template } from './cloudformation-intrinsics.ts';

export interface RateRule {
  name: string;
  priority: number;
  limit: number;
  windowMs: number;
  /** What requests are counted by: the client's address, or the value of one header (lower-case name). */
  key: { kind: 'ip' } | { kind: 'header'; name: string };
  response: BlockResponse;
}

export interface BlockResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** What a rule may be keyed on, of one request. */
export interface WebRequest {
  sourceIp: string;
  /** Header names lower-case; a header sent more than once has its values joined with ", ". */
  headers: Readonly<Record<string, string | undefined>>;
}

const CONTENT_TYPES: Record<string, string> = {
  APPLICATION_JSON: 'application/json',
  TEXT_PLAIN: 'text/plain',
  TEXT_HTML: 'text/html',
};
const DEFAULT_WINDOW_SECONDS = 300; // WAF's, when a rule names none

/** The rate-based rules of the template's one web ACL, in the order WAF evaluates them. */
export function rateRulesFromTemplate(template: Template): RateRule[] {
  const acls = findResources(template, 'AWS::WAFv2::WebACL');
  if (acls.length !== 1) throw new Error(`Expected one AWS::WAFv2::WebACL in the template, found ${acls.length}.`);
  const [id, acl] = acls[0]!;
  const properties = acl.Properties ?? {};
  if (!properties.DefaultAction?.Allow) throw new Error(`Web ACL ${id}: only a default action of Allow can run locally.`);
  const bodies: Record<string, { ContentType: string; Content: string }> = properties.CustomResponseBodies ?? {};
  return (properties.Rules as any[])
    .map((rule): RateRule => {
      const where = `Web ACL ${id}, rule ${rule.Name}`;
      const statement = rule.Statement?.RateBasedStatement;
      if (!statement || Object.keys(rule.Statement).length !== 1) throw new Error(`${where}: only rate-based rules can run locally.`);
      if (statement.ScopeDownStatement) throw new Error(`${where}: a scope-down statement cannot run locally.`);
      const limit = Number(statement.Limit);
      if (!Number.isInteger(limit) || limit < 1) throw new Error(`${where}: limit ${statement.Limit} is not a whole number.`);
      return {
        name: String(rule.Name),
        priority: Number(rule.Priority),
        limit,
        windowMs: Number(statement.EvaluationWindowSec ?? DEFAULT_WINDOW_SECONDS) * 1000,
        key: aggregationKey(statement, where),
        response: blockResponse(rule.Action, bodies, where),
      };
    })
    .sort((a, b) => a.priority - b.priority);
}

function aggregationKey(statement: any, where: string): RateRule['key'] {
  if (statement.AggregateKeyType === 'IP') return { kind: 'ip' };
  const keys = statement.CustomKeys;
  if (statement.AggregateKeyType === 'CUSTOM_KEYS' && Array.isArray(keys) && keys.length === 1 && keys[0].Header) {
    const { Name, TextTransformations } = keys[0].Header;
    const transformations = (TextTransformations ?? []) as { Type: string }[];
    if (transformations.every((t) => t.Type === 'NONE')) return { kind: 'header', name: String(Name).toLowerCase() };
  }
  throw new Error(`${where}: only IP, or one header without text transformations, can be a key locally.`);
}

function blockResponse(action: any, bodies: Record<string, { ContentType: string; Content: string }>, where: string): BlockResponse {
  const custom = action?.Block?.CustomResponse;
  if (!custom) throw new Error(`${where}: only Block with a custom response can run locally.`);
  const body = bodies[custom.CustomResponseBodyKey];
  const contentType = body && CONTENT_TYPES[body.ContentType];
  if (!body || !contentType) throw new Error(`${where}: custom response body ${custom.CustomResponseBodyKey} is missing or of an unknown type.`);
  const headers: Record<string, string> = { 'content-type': contentType };
  for (const header of (custom.ResponseHeaders ?? []) as { Name: string; Value: string }[]) headers[header.Name.toLowerCase()] = header.Value;
  return { status: Number(custom.ResponseCode), headers, body: body.Content };
}

/** The rules, counting requests on a clock the caller gives (milliseconds; a test's own). */
/** The times of one key's latest requests, oldest first from `head` (a queue without O(n) shifts). */
interface Seen {
  times: number[];
  head: number;
}

/** The rules, counting requests on a clock the caller gives (milliseconds; a test's own). */
export class LocalWebAcl {
  readonly #rules: { rule: RateRule; seen: Map<string, Seen>; sinceSweep: number }[];
  readonly #now: () => number;

  constructor(rules: RateRule[], now: () => number) {
    this.#rules = rules.map((rule) => ({ rule, seen: new Map(), sinceSweep: 0 }));
    this.#now = now;
  }

  /** The response of the first rule that blocks the request; undefined to let it through. Counts it either way. */
  check(request: WebRequest): BlockResponse | undefined {
    const now = this.#now();
    for (const state of this.#rules) {
      const { rule } = state;
      const value = rule.key.kind === 'ip' ? request.sourceIp : request.headers[rule.key.name];
      if (value === undefined) continue;
      // Keys are hashed: a header can be 16 KB, and a flood of random ones should not cost that much each.
      const key = createHash('sha256').update(value).digest('base64');
      let seen = state.seen.get(key);
      if (!seen) state.seen.set(key, (seen = { times: [], head: 0 }));
      const since = now - rule.windowMs;
      while (seen.head < seen.times.length && seen.times[seen.head]! <= since) seen.head++;
      const blocked = seen.times.length - seen.head >= rule.limit;
      seen.times.push(now);
      if (seen.times.length - seen.head > rule.limit) seen.head++; // more than `limit` are never needed to decide
      if (seen.head > 1024 && seen.head * 2 > seen.times.length) {
        seen.times = seen.times.slice(seen.head);
        seen.head = 0;
      }
      if (++state.sinceSweep >= 1000) this.#sweep(state, since);
      if (blocked) return rule.response;
    }
    return undefined;
  }

  /** Forgets keys with no request in the window, so a flood of random keys does not grow without bound. */
  #sweep(state: { seen: Map<string, Seen>; sinceSweep: number }, since: number): void {
    state.sinceSweep = 0;
    for (const [key, seen] of state.seen) if (seen.times.at(-1)! <= since) state.seen.delete(key);
  }
}
