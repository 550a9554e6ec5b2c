/** Small helpers the integration and end-to-end tests share: a seed-API client and bounded polling. */
import { seedGenerationSchema, type SeedGeneration } from '../../functions/commons/domain/seed-response.ts';

export interface ApiAnswer<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

export class SeedClient {
  constructor(
    readonly baseUrl: string,
    readonly apiKey: string,
  ) {}

  async request<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer<T>> {
    const response = await fetch(this.baseUrl + path, {
      method,
      headers: {
        authorization: `Bearer ${this.apiKey}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    // Some of API Gateway's own answers are text (413 for a body over 10 MiB): those stay text.
    const json = /^application\/json\b/.test(response.headers.get('content-type') ?? '');
    return { status: response.status, body: text ? (json ? JSON.parse(text) : text) : undefined, headers: response.headers };
  }

  /**
   * A request as a client honouring the API's 409 idempotency_in_progress ("retry shortly") makes it: asked
   * again after a moment. A repeat waits a while for the first request with its key; on a busy machine the
   * first can take longer than that.
   */
  async requestRetryingInProgress<T = any>(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<ApiAnswer<T>> {
    for (;;) {
      const answer = await this.request<T>(method, path, body, headers);
      if (answer.status !== 409 || (answer.body as { error?: { code?: string } })?.error?.code !== 'idempotency_in_progress') return answer;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** Bodies are untyped on purpose: tests assert on error shapes as well as on generations. */
  create(body: unknown): Promise<ApiAnswer<any>> {
    return this.request('POST', '/luma/generations', body);
  }

  get(id: string): Promise<ApiAnswer<any>> {
    return this.request('GET', `/luma/generations/${id}`);
  }

  /**
   * Polls until the task is completed or failed; every answer must match the published schema. Five times a
   * second: a client polling ten times a second would soon meet the edge's requests-a-minute limit per key.
   * The budget only names the task that never ended, before the test's own timeout (180 s) would: it is not
   * a speed requirement, and a loaded machine may take a minute for a task that takes a second on an idle one.
   */
  async waitForTerminal(id: string, timeoutMs = 120_000): Promise<SeedGeneration & { seen: string[] }> {
    const seen: string[] = [];
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const { status, body } = await this.get(id);
      if (status !== 200) throw new Error(`GET ${id} answered ${status}: ${JSON.stringify(body)}`);
      const generation = seedGenerationSchema.parse(body);
      if (seen.at(-1) !== generation.state) seen.push(generation.state);
      if (generation.state === 'completed' || generation.state === 'failed') return Object.assign(generation, { seen });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`Task ${id} did not finish within ${timeoutMs} ms (states seen: ${seen.join(' → ')})`);
  }
}

export async function waitUntil<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Timed out waiting for ${what}`);
}
