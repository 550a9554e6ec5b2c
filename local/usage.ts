/**
 * What the local run consumes, counted where the local runtime already stands between the pieces: Lambda
 * invocations (each function's host) and DynamoDB reads (the emulator's endpoint), per function. Each
 * function's SDK names it in its user agent (`app/<function>`, from AWS_SDK_UA_APP_ID, which only the local
 * runtime sets), so a read is counted for the function that made it. For measurements such as
 * `npm run chaos -- --scenario queue`; nothing here changes what the functions do.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface FunctionUsage {
  invocations: number;
  /** DynamoDB read requests: GetItem, BatchGetItem, Query, Scan, TransactGetItems. */
  readRequests: number;
  /** Items those requests read: one per GetItem, one per key of a BatchGetItem, the items a Query or Scan examined. */
  itemsRead: number;
}

const READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);
/** Reads the runtime's own clients make (seeding keys, the chaos script's checks) and unknown callers. */
export const OTHER = 'other';

export class UsageMeter {
  private readonly usage = new Map<string, FunctionUsage>();

  /** A copy of the counters so far, per function. */
  snapshot(): Record<string, FunctionUsage> {
    return Object.fromEntries([...this.usage].map(([name, usage]) => [name, { ...usage }]));
  }

  invoked(name: string): void {
    this.of(name).invocations++;
  }

  /** Counts a DynamoDB request if it reads; the response is read as it is sent. */
  observeDynamoDb(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    const operation = String(req.headers['x-amz-target'] ?? '').split('.').pop() ?? '';
    if (!READS.has(operation)) return;
    const usage = this.of(/(?:^| )app\/([A-Za-z0-9_-]+)/.exec(String(req.headers['user-agent'] ?? ''))?.[1] ?? OTHER);
    usage.readRequests++;
    if (operation === 'GetItem') {
      usage.itemsRead++;
      return;
    }
    if (operation === 'BatchGetItem' || operation === 'TransactGetItems') {
      usage.itemsRead += requestedKeys(operation, body);
      return;
    }
    // Query and Scan: what they examined is in the answer (ScannedCount).
    const chunks: Buffer[] = [];
    const write = res.write.bind(res);
    const end = res.end.bind(res);
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (chunk) chunks.push(Buffer.from(chunk as Buffer));
      return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof res.write;
    res.end = ((chunk: unknown, ...rest: unknown[]) => {
      if (chunk && typeof chunk !== 'function') chunks.push(Buffer.from(chunk as Buffer));
      try {
        const answer = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { ScannedCount?: number; Count?: number };
        usage.itemsRead += answer.ScannedCount ?? answer.Count ?? 0;
      } catch {
        // an error answer: nothing read
      }
      return (end as (...args: unknown[]) => ServerResponse)(chunk, ...rest);
    }) as typeof res.end;
  }

  private of(name: string): FunctionUsage {
    let usage = this.usage.get(name);
    if (!usage) this.usage.set(name, (usage = { invocations: 0, readRequests: 0, itemsRead: 0 }));
    return usage;
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
