/**
 * A client of the gateway's API over fetch, as the chaos scenarios (scripts/chaos/) and the tests
 * (test/support/client.ts) use it: one place that knows the routes, the bearer key and how answers read.
 */

export interface ApiAnswer<T = any> {
  status: number;
  body: T;
  headers: Headers;
  /** Why there was no answer (a transport error), where the caller asked for it as an answer. */
  error?: string;
}

export interface GatewayClientOptions {
  /** Each request is abandoned after this long. @default no limit */
  timeoutMs?: number;
}

export class GatewayClient {
  constructor(
    readonly baseUrl: string,
    readonly apiKey: string,
    readonly options: GatewayClientOptions = {},
  ) {}

  /** One request; a string body is sent as it is, anything else as JSON. A transport error throws. */
  async request<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer<T>> {
    const response = await fetch(this.baseUrl + path, {
      method,
      headers: {
        authorization: `Bearer ${this.apiKey}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      signal: this.options.timeoutMs === undefined ? undefined : AbortSignal.timeout(this.options.timeoutMs),
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

  /** Bodies are untyped on purpose: callers assert on error shapes as well as on generations. */
  create(body: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer<any>> {
    return this.request('POST', '/luma/generations', body, headers);
  }

  get(id: string): Promise<ApiAnswer<any>> {
    return this.request('GET', `/luma/generations/${id}`);
  }

  /** One page of the caller's generations: `{data, next_cursor}`; undefined parameters are left out. */
  list(query: { limit?: number | string; cursor?: string; state?: string } = {}): Promise<ApiAnswer<any>> {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined) params.append(name, String(value));
    const search = params.size > 0 ? `?${params}` : '';
    return this.request('GET', `/luma/generations${search}`);
  }

  cancel(id: string): Promise<ApiAnswer<any>> {
    return this.request('POST', `/luma/generations/${id}/cancel`);
  }

  delete(id: string): Promise<ApiAnswer<any>> {
    return this.request('DELETE', `/luma/generations/${id}`);
  }
}
