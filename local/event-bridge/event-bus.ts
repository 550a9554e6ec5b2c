/**
 * A local EventBridge: the PutEvents the functions' unchanged EventBridge client sends (AWS JSON 1.1), held
 * to PutEvents' own limits (1 to 10 entries, 256 KB a request, a Source, DetailType and a JSON object as
 * Detail in each, no `aws.` source, a bus that exists), each accepted entry delivered as EventBridge
 * delivers events: appended to `events.jsonl` in the data dir (one event a line, the JSON shape rules and
 * targets receive: version, id, detail-type, source, account, time, region, resources, detail), and
 * handed to the targets of every rule of the synthesized template whose pattern matches (event-pattern.ts),
 * invoked asynchronously and retried like EventBridge does, on the local time scale.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '../loopback-http.ts';
import { findResources, resolveIntrinsics, type PseudoParameters, type ResourceValues, type Template } from '../cloudformation-intrinsics.ts';
import type { TimeScale } from '../time-scale.ts';
import { checkPattern, matches, type EventPattern } from './event-pattern.ts';

/** PutEvents' limits. */
export const PUT_EVENTS_MAX_ENTRIES = 10;
export const PUT_EVENTS_MAX_BYTES = 256 * 1024;

export interface RuleTarget {
  id: string;
  arn: string;
  /** EventBridge's defaults: 185 retries over 24 hours. */
  maximumRetryAttempts: number;
  maximumEventAgeSeconds: number;
}

export interface LocalRule {
  name: string;
  eventBusName: string;
  pattern: EventPattern;
  targets: RuleTarget[];
}

/** An event as EventBridge hands it to targets (and as events.jsonl keeps it). */
export interface DeliveredEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: unknown;
}

export interface LocalEventBusOptions {
  account: string;
  region: string;
  /** Buses that exist besides `default`. */
  buses: readonly string[];
  rules: readonly LocalRule[];
  /** Where every delivered event is appended, one JSON line each. */
  file: string;
  /** Invokes a target function (its ARN), asynchronously as EventBridge does. */
  invoke(functionArn: string, event: DeliveredEvent): Promise<unknown>;
  scale: TimeScale;
  log?(line: string): void;
}

export class EventBridgeError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Entry {
  Source?: unknown;
  DetailType?: unknown;
  Detail?: unknown;
  EventBusName?: unknown;
  Resources?: unknown;
  Time?: unknown;
}

export class LocalEventBus {
  /** Every event delivered so far, in order. */
  readonly events: DeliveredEvent[] = [];
  readonly #options: LocalEventBusOptions;
  readonly #buses: Set<string>;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #stopped = new AbortController();

  constructor(options: LocalEventBusOptions) {
    this.#options = options;
    this.#buses = new Set(['default', ...options.buses]);
  }

  putEvents(request: { Entries?: unknown }): { FailedEntryCount: number; Entries: ({ EventId: string } | { ErrorCode: string; ErrorMessage: string })[] } {
    const entries = request.Entries;
    if (!Array.isArray(entries) || entries.length < 1 || entries.length > PUT_EVENTS_MAX_ENTRIES) {
      throw new EventBridgeError('ValidationException', `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and ${PUT_EVENTS_MAX_ENTRIES}`);
    }
    const size = (entries as Entry[]).reduce((total, entry) => total + entrySize(entry), 0);
    if (size > PUT_EVENTS_MAX_BYTES) throw new EventBridgeError('ValidationException', 'Total size of the entries in the request is over the limit.');
    const answers = (entries as Entry[]).map((entry) => {
      const problem = this.#problem(entry);
      if (problem) return problem;
      const event = this.#deliver(entry);
      return { EventId: event.id };
    });
    return { FailedEntryCount: answers.filter((answer) => 'ErrorCode' in answer).length, Entries: answers };
  }

  /** Resolves once every target invocation under way (retries included) has ended. */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  /** Stops retrying; invocations under way end on their own. */
  close(): void {
    this.#stopped.abort();
  }

  #problem(entry: Entry): { ErrorCode: string; ErrorMessage: string } | undefined {
    const fail = (ErrorCode: string, ErrorMessage: string) => ({ ErrorCode, ErrorMessage });
    if (typeof entry.Source !== 'string' || entry.Source === '') return fail('InvalidArgument', 'Parameter Source is not valid. Reason: Source is a required argument.');
    if (typeof entry.DetailType !== 'string' || entry.DetailType === '') return fail('InvalidArgument', 'Parameter DetailType is not valid. Reason: DetailType is a required argument.');
    if (typeof entry.Detail !== 'string' || entry.Detail === '') return fail('InvalidArgument', 'Parameter Detail is not valid. Reason: Detail is a required argument.');
    if (entry.Source.startsWith('aws.')) return fail('NotAuthorizedForSourceException', `Not authorized for the source ${entry.Source}.`);
    let detail: unknown;
    try {
      detail = JSON.parse(entry.Detail);
    } catch {
      return fail('MalformedDetail', 'Detail is malformed.');
    }
    if (detail === null || typeof detail !== 'object' || Array.isArray(detail)) return fail('MalformedDetail', 'Detail is malformed.');
    if (!this.#buses.has(this.#busName(entry.EventBusName))) {
      return fail('ResourceNotFoundException', `Event bus ${String(entry.EventBusName)} does not exist.`);
    }
    return undefined;
  }

  /** A bus by name or ARN; an ARN of another account or region names no bus of this one. */
  #busName(raw: unknown): string {
    if (raw === undefined || raw === null || raw === '') return 'default';
    const text = String(raw);
    const arn = /^arn:aws[a-z-]*:events:([a-z0-9-]+):(\d{12}):event-bus\/(.+)$/.exec(text);
    if (!arn) return text;
    return arn[1] === this.#options.region && arn[2] === this.#options.account ? arn[3]! : `(${text})`;
  }

  #deliver(entry: Entry): DeliveredEvent {
    const time = typeof entry.Time === 'number' ? new Date(entry.Time * 1000) : entry.Time instanceof Date ? entry.Time : new Date();
    const event: DeliveredEvent = {
      version: '0',
      id: randomUUID(),
      'detail-type': String(entry.DetailType),
      source: String(entry.Source),
      account: this.#options.account,
      // EventBridge's `time` has whole seconds.
      time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: this.#options.region,
      resources: Array.isArray(entry.Resources) ? entry.Resources.map(String) : [],
      detail: JSON.parse(String(entry.Detail)),
    };
    this.events.push(event);
    appendFileSync(this.#options.file, `${JSON.stringify(event)}\n`, { mode: 0o600 });
    const bus = this.#busName(entry.EventBusName);
    for (const rule of this.#options.rules) {
      if (rule.eventBusName !== bus || !matches(rule.pattern, event)) continue;
      for (const target of rule.targets) this.#track(this.#invoke(rule, target, event));
    }
    return event;
  }

  #track(work: Promise<void>): void {
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
  }

  /** Asynchronous invocation, retried with exponential backoff (1 s doubling, at most 5 minutes, scaled) like EventBridge's. */
  async #invoke(rule: LocalRule, target: RuleTarget, event: DeliveredEvent): Promise<void> {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#options.invoke(target.arn, event);
        return;
      } catch (error) {
        const delayMs = this.#options.scale.secondsAsMs(Math.min(300, 2 ** attempt));
        const tooOld = Date.now() + delayMs - started > this.#options.scale.secondsAsMs(target.maximumEventAgeSeconds);
        if (attempt >= target.maximumRetryAttempts || tooOld || this.#stopped.signal.aborted) {
          this.#options.log?.(`[events] ${rule.name} → ${target.id}: gave up on event ${event.id} after ${attempt + 1} attempts (${(error as Error).name})`);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
      }
    }
  }
}

/** PutEvents' entry size, as EventBridge counts it. */
function entrySize(entry: Entry): number {
  const bytes = (value: unknown) => (typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : 0);
  const resources = Array.isArray(entry.Resources) ? entry.Resources.reduce((total: number, item) => total + bytes(item), 0) : 0;
  return (entry.Time === undefined ? 0 : 14) + bytes(entry.Source) + bytes(entry.DetailType) + bytes(entry.Detail) + resources;
}

/**
 * The rules of the template that match events (not schedules), with their targets, resolved. A rule the
 * local bus could not honour as deployed (an input transformer, a target that is not a function) fails the
 * start rather than being run differently.
 */
export function rulesFromTemplate(template: Template, values: ResourceValues, pseudo: PseudoParameters): LocalRule[] {
  return findResources(template, 'AWS::Events::Rule')
    .filter(([, resource]) => resource.Properties?.EventPattern !== undefined && resource.Properties?.State !== 'DISABLED')
    .map(([id, resource]) => {
      const properties = resolveIntrinsics(resource.Properties, values, pseudo) as Record<string, any>;
      const pattern: unknown = properties.EventPattern;
      checkPattern(pattern);
      const targets = (properties.Targets ?? []).map((target: Record<string, any>): RuleTarget => {
        if (target.Input !== undefined || target.InputPath !== undefined || target.InputTransformer !== undefined) {
          throw new Error(`Rule ${id}, target ${target.Id}: input transformation is not supported by the local EventBridge.`);
        }
        if (!/^arn:aws[a-z-]*:lambda:/.test(String(target.Arn))) throw new Error(`Rule ${id}, target ${target.Id}: only Lambda targets run locally.`);
        return {
          id: String(target.Id),
          arn: String(target.Arn),
          maximumRetryAttempts: target.RetryPolicy?.MaximumRetryAttempts ?? 185,
          maximumEventAgeSeconds: target.RetryPolicy?.MaximumEventAgeInSeconds ?? 86_400,
        };
      });
      const bus = String(properties.EventBusName ?? 'default');
      return { name: id, eventBusName: bus.includes('event-bus/') ? bus.slice(bus.lastIndexOf('event-bus/') + 'event-bus/'.length) : bus, pattern, targets };
    });
}

/** The AWS JSON 1.1 protocol of EventBridge, as far as PutEvents. */
export function eventBridgeHttpHandler(bus: LocalEventBus): (req: IncomingMessage, res: ServerResponse, body: Buffer) => void {
  const send = (res: ServerResponse, status: number, body: unknown) =>
    sendJson(res, status, body, { 'x-amzn-requestid': randomUUID() }, 'application/x-amz-json-1.1');
  return (req, res, body) => {
    try {
      if (req.headers['x-amz-target'] !== 'AWSEvents.PutEvents') {
        throw new EventBridgeError('UnknownOperationException', `Operation ${String(req.headers['x-amz-target'])} is not supported by the local EventBridge`);
      }
      let request: unknown;
      try {
        request = JSON.parse(body.toString('utf8') || '{}');
      } catch {
        throw new EventBridgeError('SerializationException', 'Request body is not valid JSON');
      }
      send(res, 200, bus.putEvents((request ?? {}) as { Entries?: unknown }));
    } catch (error) {
      if (error instanceof EventBridgeError) send(res, 400, { __type: error.code, message: error.message });
      else send(res, 500, { __type: 'InternalException', message: (error as Error).message });
    }
  };
}
