/**
 * One attempt of a delivery against stand-ins: what is sent (verified with the `standardwebhooks` package,
 * as a receiver would), what the ledger keeps, and when nothing is sent.
 */
import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { deliver, type DeliverDeps } from '../../../functions/deliver-webhook/deliver.ts';
import { applyChange, type Task } from '../../../functions/commons/domain/task.ts';
import { generateWebhookSecret, rotated } from '../../../functions/commons/domain/webhook-secret.ts';
import type { Delivery } from '../../../functions/commons/domain/webhook-delivery.ts';
import type { WebhookRequest } from '../../../functions/commons/ports/webhook-sender.ts';
import { webhookTask } from '../../support/tasks.ts';

const ID = '0b6f1c1e-2f4a-4c39-9a53-1d2e3f4a5b6c';
const DELIVERY = `msg_${ID}_1`;
const NOW = new Date();

function failedTask(): Task {
  const task = webhookTask(ID, NOW, { url: 'https://hooks.example.com/luma', events: ['completed', 'failed'], keyHash: 'key-1' });
  return applyChange(task, { to: 'failed', failure: { code: 'moderation', reason: 'Prompt not allowed' } }, NOW.toISOString());
}

function setup(options: { answer?: number; secrets?: { webhookSecret?: string; previousWebhookSecret?: string; webhookSecretRotatedAt?: string }; task?: Task | undefined } = {}) {
  const ledger = new Map<string, Delivery>();
  const sent: WebhookRequest[] = [];
  const secret = generateWebhookSecret();
  const task = 'task' in options ? options.task : failedTask();
  const deps: DeliverDeps = {
    tasks: { get: async (id) => (id === ID ? task : undefined) },
    deliveries: {
      get: async (id) => ledger.get(id),
      getMany: async () => [],
      save: async (next, read) => {
        if (ledger.get(next.id)?.version !== read) return false;
        ledger.set(next.id, next);
        return true;
      },
    },
    keys: { webhookSecrets: async () => options.secrets ?? { webhookSecret: secret } },
    view: async (viewed, requestId) => ({ id: viewed.id, state: 'failed', request_id: requestId }) as never,
    sender: { send: async (request) => (sent.push(request), { statusCode: options.answer ?? 204, latencyMs: 5 }) },
    retryWindowSeconds: 86_400,
    random: () => 0.5,
  };
  return { deps, ledger, sent, secret };
}

describe('an attempt', () => {
  it('POSTs the Standard Webhooks message, signed by the key’s secret: the receiver verifies it with the package', async () => {
    const { deps, sent, secret, ledger } = setup();
    expect(await deliver({ deliveryId: DELIVERY, run: 1 }, deps)).toEqual({ next: 'done' });
    expect(sent).toHaveLength(1);
    const [request] = sent;
    expect(request!.url).toBe('https://hooks.example.com/luma');
    expect(request!.timeoutMs).toBe(5000);
    expect(request!.headers).toMatchObject({ 'content-type': 'application/json', 'webhook-id': DELIVERY });
    const payload = new Webhook(secret).verify(request!.body, request!.headers);
    expect(payload).toEqual({ type: 'generation.failed', timestamp: failedTask().history[1]!.at, data: { id: ID, state: 'failed', request_id: DELIVERY } });
    expect(() => new Webhook(generateWebhookSecret()).verify(request!.body, request!.headers)).toThrow(/signature/);
    expect(ledger.get(DELIVERY)).toMatchObject({ status: 'delivered', run: 1, attemptCount: 1, type: 'generation.failed', owner: 'own_1' });
  });

  it('after a rotation, signs with the new and, for a day, the previous secret: either verifies', async () => {
    const [old, fresh] = [generateWebhookSecret(), generateWebhookSecret()];
    const { deps, sent } = setup({ secrets: rotated({ webhookSecret: old }, fresh, NOW) });
    await deliver({ deliveryId: DELIVERY, run: 1 }, deps);
    const { body, headers } = sent[0]!;
    expect(headers['webhook-signature']!.split(' ')).toHaveLength(2);
    for (const secret of [old, fresh]) expect(new Webhook(secret).verify(body, headers)).toMatchObject({ type: 'generation.failed' });
  });

  it('a non-2xx answer is kept and waited on: the same webhook-id next time', async () => {
    const { deps, ledger, sent } = setup({ answer: 500 });
    expect(await deliver({ deliveryId: DELIVERY, run: 1 }, deps)).toEqual({ next: 'wait', waitSeconds: 4 });
    await deliver({ deliveryId: DELIVERY, run: 1 }, deps);
    expect(sent.map((request) => request.headers['webhook-id'])).toEqual([DELIVERY, DELIVERY]);
    expect(ledger.get(DELIVERY)!.attempts.map((attempt) => attempt.statusCode)).toEqual([500, 500]);
  });

  it('sends nothing for a run that has ended or been superseded', async () => {
    const { deps, sent } = setup();
    await deliver({ deliveryId: DELIVERY, run: 2 }, deps);
    await deliver({ deliveryId: DELIVERY, run: 2 }, deps); // its last step repeated
    await deliver({ deliveryId: DELIVERY, run: 1 }, deps); // an older run
    expect(sent).toHaveLength(1);
  });

  it('gives up, saying why in the ledger, when the task is gone or its key has no secret', async () => {
    const gone = setup({ task: undefined });
    // Deleted between two attempts of its run.
    gone.ledger.set(DELIVERY, { id: DELIVERY, taskId: ID, owner: 'own_1', type: 'generation.failed', run: 1, runStartedAt: NOW.toISOString(), runAttempts: 1, status: 'pending', attemptCount: 1, attempts: [], updatedAt: '', expiresAt: 0, version: 1 });
    expect(await deliver({ deliveryId: DELIVERY, run: 1 }, gone.deps)).toEqual({ next: 'done' });
    expect(gone.sent).toEqual([]);
    expect(gone.ledger.get(DELIVERY)).toMatchObject({ status: 'failed', run: 1 });
    expect(gone.ledger.get(DELIVERY)!.attempts.at(-1)!.error).toMatch(/no longer exists/);

    const unsigned = setup({ secrets: {} });
    await deliver({ deliveryId: DELIVERY, run: 1 }, unsigned.deps);
    expect(unsigned.sent).toEqual([]);
    expect(unsigned.ledger.get(DELIVERY)!.attempts.at(-1)!.error).toMatch(/no webhook secret/);
  });
});
