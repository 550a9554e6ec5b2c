/**
 * The API under load: `connections` clients on kept-alive connections, each sending its next request as
 * soon as its last was answered, for a while; latency percentiles and requests a second, for the POST that
 * creates a generation and the GET that reads one. Loopback only. Locally every request also crosses the
 * emulated edge (web ACL, stage throttle) and runs in at most 4 Lambda environments of the API function
 * at once (local/lambda-host.ts), so these are figures of this machine, not of AWS.
 */
import { Agent, request } from 'node:http';
import { median } from './init.ts';

export interface LoadFigures {
  requests: number;
  /** Answers that were not the expected status. */
  errors: number;
  requests_per_second: number;
  p50_ms: number;
  p99_ms: number;
}

export interface LoadOptions {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  /** Each request's body, fresh per request (a POST creates a new task each time). */
  body?: () => string;
  expectStatus: number;
  connections: number;
  durationMs: number;
}

export async function load(options: LoadOptions): Promise<LoadFigures> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const until = started + options.durationMs;
  const client = async () => {
    while (performance.now() < until) {
      const sent = performance.now();
      const status = await send(options, agent).catch(() => 0);
      latencies.push(performance.now() - sent);
      if (status !== options.expectStatus) errors++;
    }
  };
  await Promise.all(Array.from({ length: options.connections }, client));
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  const sorted = [...latencies].sort((a, b) => a - b);
  const round = (value: number) => Math.round(value * 10) / 10;
  return {
    requests: latencies.length,
    errors,
    requests_per_second: round(latencies.length / seconds),
    p50_ms: round(median(latencies)),
    p99_ms: round(sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)] ?? Number.NaN),
  };
}

function send(options: LoadOptions, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = options.body?.();
    const req = request(
      options.url,
      { method: options.method, agent, headers: { ...options.headers, ...(body !== undefined && { 'content-length': Buffer.byteLength(body) }) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
