/**
 * One webhook attempt over HTTP (ports/webhook-sender.ts): a POST to the client's URL through undici with
 * the callback policy's connect-time address check (adapters/public-address-connector.ts), so a name that
 * resolves, or is re-pointed, to a private address is never connected to; no redirect is followed (a 3xx is
 * an answer like any other non-2xx, retried); the whole attempt, connection included, within its time
 * limit. The receiver's body is not read beyond what closing the connection needs.
 */
import { performance } from 'node:perf_hooks';
import { Agent, fetch } from 'undici';
import { callbackAddressRefusal, type CallbackPolicy } from '../policy/callback-policy.ts';
import { describeNetworkError } from '../outbound-http.ts';
import type { AttemptOutcome } from '../domain/webhook-delivery.ts';
import type { WebhookRequest, WebhookSender } from '../ports/webhook-sender.ts';
import { checkedConnector, errorIn, systemResolver, type Resolver } from './public-address-connector.ts';

/** A connection the policy refused: the attempt's error names the host and why. */
class CallbackRefusedError extends Error {
  override readonly name = 'CallbackRefusedError';
}

export class GuardedWebhookSender implements WebhookSender {
  readonly #agent: Agent;

  constructor(policy: CallbackPolicy, options: { resolve?: Resolver } = {}) {
    this.#agent = new Agent({
      connect: checkedConnector(options.resolve ?? systemResolver, {
        refusalOf: callbackAddressRefusal(policy),
        refuse: (host, why) => new CallbackRefusedError(`refused to connect to ${host}: ${why}`),
      }),
      // One attempt, one connection: a receiver's keep-alive must not carry one attempt's state into the next.
      pipelining: 0,
    });
  }

  async send(request: WebhookRequest): Promise<AttemptOutcome> {
    const started = performance.now();
    const latencyMs = () => performance.now() - started;
    try {
      const response = await fetch(request.url, {
        method: 'POST',
        headers: request.headers,
        body: request.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(request.timeoutMs),
        dispatcher: this.#agent,
      });
      await response.body?.cancel().catch(() => undefined);
      return { statusCode: response.status, latencyMs: latencyMs() };
    } catch (error) {
      const refused = errorIn(error, CallbackRefusedError);
      const why = refused ? refused.message : describeNetworkError(error) === 'timed out' ? `timed out after ${request.timeoutMs / 1000} s` : describeNetworkError(error);
      return { error: why, latencyMs: latencyMs() };
    }
  }

  /** Closes pooled connections (tests; a Lambda keeps its sender for the life of the environment). */
  close(): Promise<void> {
    return this.#agent.close();
  }
}
