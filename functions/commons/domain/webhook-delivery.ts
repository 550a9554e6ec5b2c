/**
 * A webhook delivery and its ledger, as pure data and pure functions. One delivery per change a client
 * subscribed to (its id is the change's `webhook-id`, generation-events.ts); each run of it (the first, and
 * one per retry its owner asks for) tries until the receiver answers 2xx, retrying a timeout, a connection
 * error or any other answer with exponential backoff and jitter for at least the retry window (24 hours
 * deployed), and every attempt is kept: when, what came back (a status or an error), how long it took.
 * Nothing here changes the task: a delivery that fails stays the delivery's business.
 */
import type { WebhookType } from './generation-events.ts';
import { MAX_WORKFLOW_WAIT_SECONDS, workflowWaitSeconds } from './workflow-wait.ts';

/** How long one attempt may take, connection included, before it counts as a timeout. */
export const WEBHOOK_TIMEOUT_MS = 5_000;
/** The first retry's delay; each later one doubles it, up to an hour (a Wait state's longest here). */
export const FIRST_RETRY_SECONDS = 5;
export const MAX_RETRY_SECONDS = MAX_WORKFLOW_WAIT_SECONDS;
/** The ledger keeps this many of a delivery's latest attempts (`attempt_count` counts them all). */
export const LEDGER_ATTEMPTS = 100;
/** A run still "pending" this long after its window ended has lost its workflow: its owner may retry it. */
const STALE_RUN_GRACE_MS = 60 * 60 * 1000;
/** How long a delivery's ledger is kept after its last attempt (DynamoDB's TTL). */
const LEDGER_RETENTION_SECONDS = 30 * 24 * 3600;

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface DeliveryAttempt {
  run: number;
  /** 1-based within its run. */
  attempt: number;
  at: string;
  /** The receiver's HTTP status, when it answered. */
  statusCode?: number;
  /** Why there was no answer (a timeout, a refused connection, a refused address), or why none was sent. */
  error?: string;
  latencyMs: number;
}

export interface Delivery {
  /** The `webhook-id`: `msg_<task id>_<history index>`. */
  id: string;
  taskId: string;
  owner: string;
  type: WebhookType;
  /** The run under way or last made: 1, then one more for each retry its owner asked for. */
  run: number;
  runStartedAt: string;
  status: DeliveryStatus;
  /** Attempts over every run. */
  attemptCount: number;
  /** Attempts in the current run: its backoff counts them. */
  runAttempts: number;
  /** The latest attempts, oldest first (at most LEDGER_ATTEMPTS). */
  attempts: DeliveryAttempt[];
  /** When the next attempt of a pending run is due. */
  nextAttemptAt?: string;
  updatedAt: string;
  /** Epoch seconds after which DynamoDB may delete the ledger. */
  expiresAt: number;
  /** Optimistic-concurrency counter. */
  version: number;
}

/** What an attempt came to: an answer, or an error instead of one. */
export type AttemptOutcome = { statusCode: number; latencyMs: number } | { error: string; latencyMs: number };

/** What the delivery workflow does next: wait and try again, or stop (delivered, given up, or nothing to do). */
export type NextStep = { next: 'wait'; waitSeconds: number } | { next: 'done' };

export function isDelivered(outcome: AttemptOutcome): boolean {
  return 'statusCode' in outcome && outcome.statusCode >= 200 && outcome.statusCode < 300;
}

/**
 * The delay before retry `failures + 1` of a run: exponential (5 s, 10 s, 20 s, …, at most an hour) with
 * "equal jitter", between half the delay and all of it, so that receivers that failed together are not
 * called again together, and the run's span is never shortened by more than half. Whole seconds, as a Wait
 * state needs. `random` is in [0, 1).
 */
export function retryDelaySeconds(failures: number, random: number): number {
  const base = Math.min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** Math.max(0, failures - 1));
  return workflowWaitSeconds(base / 2 + (base / 2) * random);
}

/**
 * The delivery as run `run` begins: a new ledger, or a new run of an existing one (its attempts kept).
 * Undefined when the ledger is already at or past that run: the run has begun (this is a repeat) or has
 * been superseded by a newer one.
 */
export function beginRun(
  existing: Delivery | undefined,
  start: Pick<Delivery, 'id' | 'taskId' | 'owner' | 'type' | 'run'>,
  now: Date,
): Delivery | undefined {
  if (existing && existing.run >= start.run) return undefined;
  const at = now.toISOString();
  return {
    attemptCount: 0,
    attempts: [],
    ...existing,
    ...start,
    runStartedAt: at,
    runAttempts: 0,
    status: 'pending',
    nextAttemptAt: at,
    updatedAt: at,
    expiresAt: expiry(now),
    version: (existing?.version ?? 0) + 1,
  };
}

/**
 * The delivery after an attempt of its current run, and what follows: `done` once the receiver took it
 * (2xx) or the run's window is over (a last attempt at or after its end has failed too), otherwise a wait.
 */
export function recordAttempt(
  delivery: Delivery,
  outcome: AttemptOutcome,
  now: Date,
  windowSeconds: number,
  random: number,
): { delivery: Delivery; step: NextStep } {
  const inRun = delivery.runAttempts;
  const attempt: DeliveryAttempt = { run: delivery.run, attempt: inRun + 1, at: now.toISOString(), latencyMs: Math.round(outcome.latencyMs), ...outcomeFields(outcome) };
  const delivered = isDelivered(outcome);
  const overdue = now.getTime() - Date.parse(delivery.runStartedAt) >= windowSeconds * 1000;
  const waitSeconds = delivered || overdue ? undefined : retryDelaySeconds(inRun + 1, random);
  const { nextAttemptAt: _next, ...rest } = delivery;
  return {
    delivery: {
      ...rest,
      status: delivered ? 'delivered' : overdue ? 'failed' : 'pending',
      attemptCount: delivery.attemptCount + 1,
      runAttempts: inRun + 1,
      attempts: [...delivery.attempts, attempt].slice(-LEDGER_ATTEMPTS),
      ...(waitSeconds !== undefined && { nextAttemptAt: new Date(now.getTime() + waitSeconds * 1000).toISOString() }),
      updatedAt: attempt.at,
      expiresAt: expiry(now),
      version: delivery.version + 1,
    },
    step: waitSeconds === undefined ? { next: 'done' } : { next: 'wait', waitSeconds },
  };
}

/** The run ends without an attempt (the task is gone, or there is no secret to sign with): said in the ledger. */
export function abandonRun(delivery: Delivery, why: string, now: Date): Delivery {
  const inRun = delivery.runAttempts;
  const { nextAttemptAt: _next, ...rest } = delivery;
  return {
    ...rest,
    status: 'failed',
    runAttempts: inRun + 1,
    attempts: [...delivery.attempts, { run: delivery.run, attempt: inRun + 1, at: now.toISOString(), error: why, latencyMs: 0 }].slice(-LEDGER_ATTEMPTS),
    updatedAt: now.toISOString(),
    expiresAt: expiry(now),
    version: delivery.version + 1,
  };
}

/** A run is under way: a retry must wait for it (unless its workflow was lost: long past its window). */
export function isRunInProgress(delivery: Delivery, now: Date, windowSeconds: number): boolean {
  if (delivery.status !== 'pending') return false;
  return now.getTime() < Date.parse(delivery.runStartedAt) + windowSeconds * 1000 + STALE_RUN_GRACE_MS;
}

function outcomeFields(outcome: AttemptOutcome): Pick<DeliveryAttempt, 'statusCode' | 'error'> {
  return 'statusCode' in outcome ? { statusCode: outcome.statusCode } : { error: outcome.error };
}

function expiry(now: Date): number {
  return Math.floor(now.getTime() / 1000) + LEDGER_RETENTION_SECONDS;
}

/** The webhook's body: Standard Webhooks' `{type, timestamp, data}`. */
export function webhookBody(type: WebhookType, timestamp: string, data: unknown): string {
  return JSON.stringify({ type, timestamp, data });
}
