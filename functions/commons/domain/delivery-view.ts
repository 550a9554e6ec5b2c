/**
 * The webhook ledger as the API shows it (`GET /luma/generations/{id}/deliveries` and the retry): the
 * contract of its answers, and the mapping from a delivery (webhook-delivery.ts) to it. A module of its own,
 * so the function that delivers webhooks does not bundle zod to build schemas only the API answers with.
 */
// A namespace import: `import { z }` keeps all of zod (every locale) in a bundle, this only what is used.
import * as z from 'zod';
import { WEBHOOK_EVENTS, webhookType, type WebhookType } from './generation-events.ts';
import type { Delivery } from './webhook-delivery.ts';

/** A delivery as `GET /luma/generations/{id}/deliveries` lists it: the contract of the ledger's answers. */
export const deliveryViewSchema = z.object({
  id: z.string(),
  type: z.enum(WEBHOOK_EVENTS.map(webhookType) as [WebhookType, ...WebhookType[]]),
  status: z.enum(['pending', 'delivered', 'failed']),
  /** 0 while the delivery has not begun (its change is being published). */
  run: z.number().int().nonnegative(),
  attempt_count: z.number().int().nonnegative(),
  next_attempt_at: z.string().nullable(),
  attempts: z.array(
    z.object({
      run: z.number().int().positive(),
      attempt: z.number().int().positive(),
      at: z.string(),
      status_code: z.number().int().nullable(),
      error: z.string().nullable(),
      latency_ms: z.number().int().nonnegative(),
    }),
  ),
});
export type DeliveryView = z.infer<typeof deliveryViewSchema>;

/** `GET /luma/generations/{id}/deliveries`. */
export const deliveryListSchema = z.object({ data: z.array(deliveryViewSchema) });

/** `POST /luma/generations/{id}/deliveries/{delivery_id}/retry`: the run it started. */
export const deliveryRetrySchema = z.object({ id: z.string(), run: z.number().int().positive(), status: z.literal('pending') });

export function deliveryView(delivery: Delivery): DeliveryView {
  return {
    id: delivery.id,
    type: delivery.type,
    status: delivery.status,
    run: delivery.run,
    attempt_count: delivery.attemptCount,
    next_attempt_at: delivery.nextAttemptAt ?? null,
    attempts: delivery.attempts.map((attempt) => ({
      run: attempt.run,
      attempt: attempt.attempt,
      at: attempt.at,
      status_code: attempt.statusCode ?? null,
      error: attempt.error ?? null,
      latency_ms: attempt.latencyMs,
    })),
  };
}

/** A delivery owed but not begun yet (its change is being published): listed as pending, with no attempt. */
export function pendingView(id: string, type: WebhookType): DeliveryView {
  return { id, type, status: 'pending', run: 0, attempt_count: 0, next_attempt_at: null, attempts: [] };
}
