/**
 * What the world is told of a generation: one event per change of its public state (`pending`,
 * `processing`, `completed`, `failed`), published to EventBridge for everyone in the owner's account and,
 * for the changes its client subscribed to, delivered to the client's webhook. Pure: the changes are read
 * off the task's own history, so the task record is the outbox (`Task.publishedThrough`), and a change is
 * the same event whoever publishes it, and however often.
 *
 * EventBridge: `source` "luma-video-gateway", `detail-type` "Generation Submitted" | "Generation Processing"
 * | "Generation Completed" | "Generation Failed", `detail` as `generationEventDetailSchema` (generation-event-detail.ts;
 * the README documents it). Webhooks: `generation.processing` | `generation.completed` | `generation.failed`.
 */
import { publicState, type PublicState } from './public-generation.ts';
import type { Task } from './task.ts';
import type { GenerationEventDetail } from './generation-event-detail.ts';

export type { GenerationEventDetail } from './generation-event-detail.ts';

export const EVENT_SOURCE = 'luma-video-gateway';

export const DETAIL_TYPES = {
  pending: 'Generation Submitted',
  processing: 'Generation Processing',
  completed: 'Generation Completed',
  failed: 'Generation Failed',
} as const satisfies Record<PublicState, string>;

export type DetailType = (typeof DETAIL_TYPES)[PublicState];

/** The changes a client may subscribe its webhook to (`callback_events`): it knows of `pending` from its own POST. */
export const WEBHOOK_EVENTS = ['processing', 'completed', 'failed'] as const;
export type WebhookEventName = (typeof WEBHOOK_EVENTS)[number];
/** Without `callback_events`: the end of the task, whichever it is. */
export const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEventName[] = ['completed', 'failed'];

export type WebhookType = `generation.${WebhookEventName}`;

/** One change of a task's public state: the history entry that made it, its state and its time. */
export interface GenerationChange {
  /** The entry's index in the task's history: with the task id, what names the change for good. */
  index: number;
  state: PublicState;
  at: string;
}

/**
 * Every change of the task's public state, from its history: the first entry (`pending`, the task was
 * recorded), then each entry whose public state differs from the one before. Moves inside a public state
 * (accepted → submitted, dreaming → copying) are none. A task the upstream failed on its own side and that
 * is submitted again goes back to `pending`, and then to `processing` again: two more changes.
 */
export function publicChanges(task: Pick<Task, 'history'>): GenerationChange[] {
  const changes: GenerationChange[] = [];
  let previous: PublicState | undefined;
  task.history.forEach((entry, index) => {
    const state = publicState(entry.status);
    if (state !== previous) changes.push({ index, state, at: entry.at });
    previous = state;
  });
  return changes;
}

/** The changes still owed to the world: those past `publishedThrough` (none for a task recorded before publishing). */
export function unpublishedChanges(task: Pick<Task, 'history' | 'publishedThrough'>): GenerationChange[] {
  const through = task.publishedThrough ?? task.history.length;
  return publicChanges(task).filter((change) => change.index >= through);
}

export function webhookType(state: WebhookEventName): WebhookType {
  return `generation.${state}`;
}

function isWebhookEvent(state: PublicState): state is WebhookEventName {
  return (WEBHOOK_EVENTS as readonly string[]).includes(state);
}

/** The changes the task's client subscribed its webhook to (none without a callback). */
export function webhookChanges(task: Pick<Task, 'history' | 'callback'>, changes = publicChanges(task)): (GenerationChange & { state: WebhookEventName })[] {
  const events = task.callback?.events ?? [];
  return changes.filter((change): change is GenerationChange & { state: WebhookEventName } => isWebhookEvent(change.state) && events.includes(change.state));
}

/**
 * The webhook id of a change (Standard Webhooks' `webhook-id`, and the delivery's id in the ledger): the
 * same on every attempt and every publication of that change, so a receiver drops repeats by it.
 */
export function deliveryId(taskId: string, index: number): string {
  return `msg_${taskId}_${index}`;
}

const DELIVERY_ID = /^msg_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_(\d{1,4})$/;

/** The task and history index a delivery id names, or undefined when it is not one of ours. */
export function parseDeliveryId(id: string): { taskId: string; index: number } | undefined {
  const match = DELIVERY_ID.exec(id);
  return match ? { taskId: match[1]!, index: Number(match[2]) } : undefined;
}

/** An event as the publisher sends it (EventBridge's PutEvents entry, less the bus and the source). */
export interface GenerationEvent {
  detailType: DetailType;
  /** When the change happened: the event's `time`. */
  time: string;
  detail: GenerationEventDetail;
}

/** The event of one change of `task`; `bucket` holds the task's outputs. */
export function generationEvent(task: Task, change: GenerationChange, bucket: string): GenerationEvent {
  const detail: GenerationEventDetail = {
    id: task.id,
    owner: task.owner,
    state: change.state,
    failure_code: change.state === 'failed' ? (task.failure?.code ?? null) : null,
  };
  const output = task.output;
  if (change.state === 'completed' && output) {
    detail.video = {
      bucket,
      key: output.videoKey,
      sha256: output.sha256,
      size_bytes: output.sizeBytes,
      width: output.width,
      height: output.height,
      duration: output.durationSeconds,
    };
    detail.thumbnail = output.thumbnail ? { bucket, key: output.thumbnail.key } : null;
  }
  return { detailType: DETAIL_TYPES[change.state], time: change.at, detail };
}
