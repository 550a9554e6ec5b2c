/**
 * What the local run consumes, counted where the local runtime already stands between the pieces: Lambda
 * invocations and their time (each function's host), DynamoDB requests and units (the emulator's endpoint)
 * and S3 requests (the bucket's), per function. Each
 * function's SDK names it in its user agent (`app/<function>`, from AWS_SDK_UA_APP_ID, which only the local
 * runtime sets), so a read is counted for the function that made it. For measurements such as
 * `npm run chaos -- --scenario queue` and `npm run bench`; nothing here changes what the functions do.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface FunctionUsage {
  invocations: number;
  /** Milliseconds the invocations took, from the invoke to its answer (Lambda bills each rounded up to 1 ms). */
  durationMs: number;
  /** DynamoDB write requests (PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems) and their write units (1 KB each, from the request's item size). */
  writeRequests: number;
  writeUnits: number;
  /** S3 requests, as S3 bills them: PUT, COPY, POST, LIST; and GET and the others. */
  s3Writes: number;
  s3Reads: number;
  /** DynamoDB read requests: GetItem, BatchGetItem, Query, Scan, TransactGetItems. */
  readRequests: number;
  /** Items those requests read: one per GetItem, one per key of a BatchGetItem, the items a Query or Scan examined. */
  itemsRead: number;
  /**
   * Read units, as DynamoDB bills them on demand: one per 4 KB of each answer (its size on the wire, a
   * little above what DynamoDB counts), half that for a read that is not strongly consistent.
   */
  readUnits: number;
}

const READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);
const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);
/**
 * The function named by the SDK's user agent: `app/<name>`, where Powertools appends its own mark to the app
 * id (`<name>/PTEnv/…`, which the SDK writes as `<name>-PTEnv-…`): the name ends at the first hyphen.
 */
const callerOf = (req: IncomingMessage) => /(?:^| )app\/([A-Za-z0-9_]+)/.exec(String(req.headers['user-agent'] ?? ''))?.[1] ?? OTHER;
/** Reads the runtime's own clients make (seeding keys, the chaos script's checks) and unknown callers. */
export const OTHER = 'other';

/** Every counter at zero. */
export function noUsage(): FunctionUsage {
  return { invocations: 0, durationMs: 0, readRequests: 0, itemsRead: 0, readUnits: 0, writeRequests: 0, writeUnits: 0, s3Writes: 0, s3Reads: 0 };
}

/** What one function used between two snapshots, or all functions together when `name` is omitted. */
export function usageBetween(before: Record<string, FunctionUsage>, after: Record<string, FunctionUsage>, name?: string): FunctionUsage {
  const names = name === undefined ? Object.keys(after) : [name];
  const total = noUsage();
  for (const each of names) {
    const [a, b] = [before[each] ?? noUsage(), after[each] ?? noUsage()];
    for (const key of Object.keys(total) as (keyof FunctionUsage)[]) total[key] += b[key] - a[key];
  }
  return total;
}

export class UsageMeter {
  private readonly usage = new Map<string, FunctionUsage>();

  /** A copy of the counters so far, per function. */
  snapshot(): Record<string, FunctionUsage> {
    return Object.fromEntries([...this.usage].map(([name, usage]) => [name, { ...usage }]));
  }

  invoked(name: string): void {
    this.of(name).invocations++;
  }

  /** Counts an invocation and the time it takes to answer. */
  async timed<T>(name: string, invocation: () => Promise<T>): Promise<T> {
    this.invoked(name);
    const started = performance.now();
    try {
      return await invocation();
    } finally {
      this.of(name).durationMs += Math.ceil(performance.now() - started);
    }
  }

  /** Counts an S3 request by its method (the multipart upload's parts are PUTs, its start and end POSTs). */
  observeS3(req: IncomingMessage): void {
    const usage = this.of(callerOf(req));
    if (['PUT', 'POST', 'COPY'].includes(req.method ?? '') || (req.method === 'GET' && /[?&]list-type=/.test(req.url ?? ''))) usage.s3Writes++;
    else usage.s3Reads++;
  }

  /** Counts a DynamoDB request if it reads; the response is read as it is sent. */
  observeDynamoDb(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    const operation = String(req.headers['x-amz-target'] ?? '').split('.').pop() ?? '';
    if (WRITES.has(operation)) {
      const usage = this.of(callerOf(req));
      usage.writeRequests++;
      usage.writeUnits += writeUnits(operation, body);
      return;
    }
    if (!READS.has(operation)) return;
    const usage = this.of(callerOf(req));
    usage.readRequests++;
    if (operation === 'GetItem') usage.itemsRead++;
    if (operation === 'BatchGetItem' || operation === 'TransactGetItems') usage.itemsRead += requestedKeys(operation, body);
    const consistent = /"ConsistentRead"\s*:\s*true/.test(body.toString('utf8'));
    // The answer is read as it is sent: its size gives the read units, and a Query's or Scan's what it examined.
    const chunks: Buffer[] = [];
    const write = res.write.bind(res);
    const end = res.end.bind(res);
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (chunk) chunks.push(Buffer.from(chunk as Buffer));
      return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof res.write;
    res.end = ((chunk: unknown, ...rest: unknown[]) => {
      if (chunk && typeof chunk !== 'function') chunks.push(Buffer.from(chunk as Buffer));
      const answer = Buffer.concat(chunks);
      usage.readUnits += Math.max(1, Math.ceil(answer.length / 4096)) * (consistent ? 1 : 0.5);
      if (operation === 'Query' || operation === 'Scan') {
        try {
          const parsed = JSON.parse(answer.toString('utf8')) as { ScannedCount?: number; Count?: number };
          usage.itemsRead += parsed.ScannedCount ?? parsed.Count ?? 0;
        } catch {
          // an error answer: nothing read
        }
      }
      return (end as (...args: unknown[]) => ServerResponse)(chunk, ...rest);
    }) as typeof res.end;
  }

  private of(name: string): FunctionUsage {
    let usage = this.usage.get(name);
    if (!usage) this.usage.set(name, (usage = noUsage()));
    return usage;
  }
}

/**
 * Write units of a request: 1 KB each, rounded up per item. The size is the request's item in DynamoDB JSON,
 * a little more than DynamoDB counts (names and values, without the type tags); an update counts its item
 * as small, since its size is not in the request (the gateway updates only small items: slots, counters).
 */
function writeUnits(operation: string, body: Buffer): number {
  try {
    const request = JSON.parse(body.toString('utf8')) as {
      Item?: unknown;
      RequestItems?: Record<string, { PutRequest?: { Item: unknown } }[]>;
      TransactItems?: { Put?: { Item: unknown } }[];
    };
    const units = (item: unknown) => Math.max(1, Math.ceil(Buffer.byteLength(JSON.stringify(item ?? {})) / 1024));
    if (operation === 'PutItem') return units(request.Item);
    if (operation === 'BatchWriteItem') return Object.values(request.RequestItems ?? {}).flat().reduce((sum, write) => sum + units(write.PutRequest?.Item), 0);
    if (operation === 'TransactWriteItems') return (request.TransactItems ?? []).reduce((sum, write) => sum + 2 * units(write.Put?.Item), 0);
    return 1;
  } catch {
    return 1;
  }
}

function requestedKeys(operation: string, body: Buffer): number {
  try {
    const request = JSON.parse(body.toString('utf8')) as {
      RequestItems?: Record<string, { Keys?: unknown[] }>;
      TransactItems?: unknown[];
    };
    if (operation === 'TransactGetItems') return request.TransactItems?.length ?? 0;
    return Object.values(request.RequestItems ?? {}).reduce((sum, table) => sum + (table.Keys?.length ?? 0), 0);
  } catch {
    return 0;
  }
}
