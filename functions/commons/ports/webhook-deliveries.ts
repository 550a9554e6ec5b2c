/**
 * The webhook delivery workflow (adapters/webhook-deliveries.ts): one run per delivery and retry, which
 * attempts, waits and retries on its own (functions/deliver-webhook/).
 */

/** What every run of the delivery workflow starts from. */
export interface DeliveryRunInput {
  /** The delivery, which is its `webhook-id` (domain/generation-events.ts deliveryId). */
  deliveryId: string;
  /** 1 for the first run; each retry its owner asks for is the next. */
  run: number;
}

export interface WebhookDeliveries {
  /** Starts the run; starting one that was started already (a publication repeated) is not an error and starts nothing. */
  start(input: DeliveryRunInput): Promise<void>;
}
