/**
 * What the local run consumes, counted where the local runtime already stands between the pieces: Lambda
 * invocations and their durations (each function's host), DynamoDB requests and their capacity units (the
 * emulator's endpoint) and S3 requests (the bucket's endpoint), per function. Each function's SDK names it
 * in its user agent (`app/<function>`, from AWS_SDK_UA_APP_ID, which only the local runtime sets), so a
 * request is counted for the function that made it. For measurements such as `npm run chaos -- --scenario
 * queue` and `npm run bench`; nothing here changes what the functions do.
 *
 * Capacity units as DynamoDB bills them on demand, from the sizes on the wire (a little above the stored
 * sizes, so the estimate errs high): a write is one unit per KB of the request, a read one unit per 4 KB of
 * the answer, half that when it is not strongly consistent.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface FunctionUsage {
  invocations: number;
  /** Wall milliseconds of those invocations, as Lambda bills them (each rounded up to the millisecond). */
  invocationMs: number;
  /** DynamoDB read requests: GetItem, BatchGetItem, Query, Scan, TransactGetItems. */
  readRequests: number;
  /** Items those requests read: one per GetItem, one per key of a BatchGetItem, the items a Query or Scan examined. */
  itemsRead: number;
  readUnits: number;
  /** DynamoDB write requests: PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems. */
  writeRequests: number;
  writeUnits: number;
  /** S3 requests priced as PUT (PUT, POST, COPY, LIST: the upload and its parts) and as GET (GET, HEAD). */
  s3Puts: number;
  s3Gets: number;
}

const READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);
const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);
/** Reads the runtime's own clients make (seeding keys, the chaos script's checks) and unknown callers. */
export const OTHER = 'other';

export class UsageMeter {
  private readonly usage = new Map<string, FunctionUsage>();

  /** A copy of the counters so far, per function. */
  snapshot(): Record<string, FunctionUsage> {
    return Object.fromEntries([...this.usage].map(([name, usage]) => [name, { ...usage }]));
  }

  /** Counts an invocation and its duration. */
  async timed<T>(name: string, invocation: () => Promise<T>): Promise<T> {
    const usage = this.of(name);
    usage.invocations++;
    const started = performance.now();
    try {
      return await invocation();
    } finally {
      usage.invocationMs += Math.ceil(performance.now() - started);
    }
  }

  /** Counts a DynamoDB request if it reads or writes; a read's answer is measured as it is sent. */
  observeDynamoDb(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    const operation = String(req.headers['x-amz-target'] ?? '').split('.').pop() ?? '';
    const usage = this.of(callerOf(req));
    if (WRITES.has(operation)) {
      usage.writeRequests++;
      usage.writeUnits += Math.max(1, Math.ceil(body.length / 1024));
      return;
    }
    if (!READS.has(operation)) return;
    usage.readRequests++;
    if (operation === 'GetItem') usage.itemsRead++;
    if (operation === 'BatchGetItem' || operation === 'TransactGetItems') usage.itemsRead += requestedKeys(operation, body);
    const consistent = /"ConsistentRead"\s*:\s*true/.test(body.toString('utf8'));
    answerOf(res, (answer) => {
      usage.readUnits += Math.max(1, Math.ceil(answer.length / 4096)) * (consistent ? 1 : 0.5);
      if (operation !== 'Query' && operation !== 'Scan') return;
      // Query and Scan: what they examined is in the answer (ScannedCount).
      try {
        const parsed = JSON.parse(answer.toString('utf8')) as { ScannedCount?: number; Count?: number };
        usage.itemsRead += parsed.ScannedCount ?? parsed.Count ?? 0;
      } catch {
        // an error answer: nothing read
      }
    });
  }

  /** Counts an S3 request by its price class. */
  observeS3(req: IncomingMessage): void {
    const usage = this.of(callerOf(req));
    if (req.method === 'GET' || req.method === 'HEAD') usage.s3Gets++;
    else if (req.method === 'PUT' || req.method === 'POST') usage.s3Puts++;
  }

  private of(name: string): FunctionUsage {
    let usage = this.usage.get(name);
    if (!usage) this.usage.set(name, (usage = emptyUsage()));
    return usage;
  }
}

/** What a function used between two snapshots (either may lack it: none). */
export function usageDelta(before: FunctionUsage | undefined, after: FunctionUsage | undefined): FunctionUsage {
  const zero = emptyUsage();
  const [a, b] = [before ?? zero, after ?? zero];
  return Object.fromEntries(Object.keys(zero).map((key) => [key, b[key as keyof FunctionUsage] - a[key as keyof FunctionUsage]])) as unknown as FunctionUsage;
}

function emptyUsage(): FunctionUsage {
  return { invocations: 0, invocationMs: 0, readRequests: 0, itemsRead: 0, readUnits: 0, writeRequests: 0, writeUnits: 0, s3Puts: 0, s3Gets: 0 };
}

function callerOf(req: IncomingMessage): string {
  return /(?:^| )app\/([A-Za-z0-9_-]+)/.exec(String(req.headers['user-agent'] ?? ''))?.[1] ?? OTHER;
}

/** Calls `done` with the answer's bytes once it is sent. */
function answerOf(res: ServerResponse, done: (answer: Buffer) => void): void {
  const chunks: Buffer[] = [];
  const write = res.write.bind(res);
  const end = res.end.bind(res);
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (chunk) chunks.push(Buffer.from(chunk as Buffer));
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof res.write;
  res.end = ((chunk: unknown, ...rest: unknown[]) => {
    if (chunk && typeof chunk !== 'function') chunks.push(Buffer.from(chunk as Buffer));
    done(Buffer.concat(chunks));
    return (end as (...args: unknown[]) => ServerResponse)(chunk, ...rest);
  }) as typeof res.end;
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
