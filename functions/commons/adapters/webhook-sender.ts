/**
 * One webhook attempt over HTTP (ports/webhook-sender.ts): a POST to the client's URL with the callback
 * policy's checks at connect time, as the copy's downloads do (public-address-lookup.ts): a name is
 * connected to only when every address it resolves to passes the policy, a literal address is checked
 * before connecting, and the address the socket actually connected to is checked again before a byte is
 * sent, so a name that resolves, or is re-pointed, to a private address is never written to. No redirect
 * is followed (Node's client follows none: a 3xx is an answer like any other non-2xx, retried); the whole
 * attempt, connection included, within its time limit. The receiver's body is not read.
 *
 * Node's own http and https clients, not fetch: the lookup and the socket are theirs to hand over, and
 * undici (fetch with a custom connector) was 540 kB of this function's 1,280 kB bundle.
 */
import { request as httpRequest, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { callbackAddressRefusal, type CallbackPolicy } from '../policy/callback-policy.ts';
import { describeNetworkError } from '../outbound-http.ts';
import type { AttemptOutcome } from '../domain/webhook-delivery.ts';
import type { WebhookRequest, WebhookSender } from '../ports/webhook-sender.ts';
import { checkedLookup, errorIn, systemResolver, type AddressRule, type Resolver } from './public-address-lookup.ts';

/** A connection the policy refused: the attempt's error names the host and why. */
class CallbackRefusedError extends Error {
  override readonly name = 'CallbackRefusedError';
}

export class GuardedWebhookSender implements WebhookSender {
  readonly #rule: AddressRule;
  readonly #lookup: ReturnType<typeof checkedLookup>;

  constructor(policy: CallbackPolicy, options: { resolve?: Resolver } = {}) {
    this.#rule = {
      refusalOf: callbackAddressRefusal(policy),
      refuse: (host, why) => new CallbackRefusedError(`refused to connect to ${host}: ${why}`),
    };
    this.#lookup = checkedLookup(options.resolve ?? systemResolver, this.#rule);
  }

  async send(request: WebhookRequest): Promise<AttemptOutcome> {
    const started = performance.now();
    const latencyMs = () => performance.now() - started;
    try {
      const statusCode = await this.#post(request);
      return { statusCode, latencyMs: latencyMs() };
    } catch (error) {
      const refused = errorIn(error, CallbackRefusedError);
      const why = refused ? refused.message : describeNetworkError(error) === 'timed out' ? `timed out after ${request.timeoutMs / 1000} s` : describeNetworkError(error);
      return { error: why, latencyMs: latencyMs() };
    }
  }

  /** The POST, answered with the receiver's status code once its headers arrive. */
  #post({ url: raw, headers, body, timeoutMs }: WebhookRequest): Promise<number> {
    const url = new URL(raw);
    // A literal address is connected to without a lookup: check it here.
    const literal = url.hostname.replace(/^\[|\]$/g, '');
    const literalRefusal = isIP(literal) ? this.#rule.refusalOf(literal) : undefined;
    if (literalRefusal) return Promise.reject(this.#rule.refuse(url.host, literalRefusal));
    const signal = AbortSignal.timeout(timeoutMs);
    return new Promise((resolve, reject) => {
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const payload = Buffer.from(body);
      const request: ClientRequest = send(url, {
        method: 'POST',
        headers: { ...headers, 'content-length': String(payload.length) },
        lookup: this.#lookup,
        // One attempt, one connection: a receiver's keep-alive must not carry one attempt's state into the next.
        agent: false,
      });
      request.on('socket', (socket) => this.#checkConnectedAddress(socket, url, request));
      // The deadline covers the connection, the request and the wait for the answer's headers.
      const abort = () => request.destroy(signal.reason as Error);
      if (signal.aborted) abort();
      signal.addEventListener('abort', abort, { once: true });
      request.once('response', (response) => {
        signal.removeEventListener('abort', abort);
        response.destroy();
        resolve(response.statusCode ?? 0);
      });
      request.once('error', (error) => {
        signal.removeEventListener('abort', abort);
        reject(error);
      });
      request.end(payload);
    });
  }

  /** The address the socket actually connected to, whatever produced it, before the request is written to it. */
  #checkConnectedAddress(socket: Socket, url: URL, request: ClientRequest): void {
    const check = () => {
      const address = socket.remoteAddress;
      const refusal = address ? this.#rule.refusalOf(address) : 'the address is unknown';
      if (refusal) request.destroy(this.#rule.refuse(url.host, `the connection went to a non-public address (${refusal})`));
    };
    if (socket.connecting) socket.once('connect', check);
    else check();
  }
}
