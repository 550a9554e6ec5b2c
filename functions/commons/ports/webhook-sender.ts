/**
 * The POST of one webhook attempt to a client's URL (adapters/webhook-sender.ts): the callback policy's
 * connect-time address check, no redirect followed, a time limit. It never throws for what the receiver
 * or the network did: that is the attempt's outcome.
 */
import type { AttemptOutcome } from '../domain/webhook-delivery.ts';

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}

export interface WebhookSender {
  send(request: WebhookRequest): Promise<AttemptOutcome>;
}
