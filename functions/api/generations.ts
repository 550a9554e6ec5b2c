/**
 * The two operations of the aggregator API, free of HTTP: the routes (routes.ts) authenticate and parse, these
 * decide.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { GenerationRequest, KeyframeInput } from '../commons/domain/generation-request.ts';
import { isQueued, newTask, type Keyframe, type Task } from '../commons/domain/task.ts';
import { markerUrl } from '../commons/domain/upstream-marker.ts';
import { toPublicGeneration, type PublicGeneration } from '../commons/domain/public-generation.ts';
import { NotFoundError, UpstreamRejectedError } from '../commons/errors.ts';
import { submitTask, type SubmitDeps } from '../commons/services/submit.ts';
import { log } from '../commons/log.ts';
import type { Dispatcher } from '../commons/services/dispatch.ts';
import { effectiveChoices, type GenerationOffer } from '../commons/domain/luma-options.ts';
import { queuePosition } from '../commons/domain/fair-share.ts';
import { systemClock, type Clock } from '../commons/clock.ts';
import { viewGeneration } from '../commons/services/generation-view.ts';
import { DEFAULT_WEBHOOK_EVENTS } from '../commons/domain/generation-events.ts';
import type { ClientLimits } from '../commons/ports/client-limits.ts';
import type { OwnerQueue } from '../commons/ports/owner-queue.ts';
import type { ApiKeyRecord } from '../commons/ports/api-key-store.ts';
import type { TaskStore } from '../commons/ports/task-store.ts';

export interface GenerationsDeps extends SubmitDeps {
  clientLimits: Pick<ClientLimits, 'admit' | 'of'>;
  queue: Pick<OwnerQueue, 'enqueue' | 'dequeue' | 'position' | 'timeoutSeconds'>;
  dispatcher: Pick<Dispatcher, 'dispatch' | 'start'>;
  presignExpirySeconds: number;
  /** Where the upstream can reach this gateway; unset: tasks carry no marker (config.ts). */
  publicBaseUrl?: string;
  /** The deployment's defaults fill in what a request leaves out; the request schema already checked the rest. */
  offer: GenerationOffer;
  clock?: Clock;
  newId?: () => string;
}

/**
 * Within the key's create rate and its owner's queue limit, records the task in its owner's queue, then
 * dispatches: if the task is given an upstream slot at once, it is submitted while the client waits (so a
 * refusal reaches the client), and the workflow of every task this dispatch admitted is started. A task
 * not admitted stays queued, with no workflow execution until its turn comes. Only a permanent upstream
 * refusal reaches the client as an error (the task is then recorded as failed); a transient error leaves
 * the task admitted, for its workflow.
 */
export async function createGeneration(
  key: ApiKeyRecord,
  body: GenerationRequest,
  requestId: string,
  deps: GenerationsDeps,
): Promise<PublicGeneration> {
  const { owner } = key;
  await deps.clientLimits.admit(key);
  const id = (deps.newId ?? randomUUID)();
  // Keyframes first: the ticket is taken just before the task is recorded, so that tasks of one owner
  // become visible in its queue nearly in ticket order (a refused ticket leaves stored keyframes to expire).
  const frames = await storeKeyframes(id, body, deps);
  const { ticket, served } = await deps.queue.enqueue(owner, deps.clientLimits.of(key));
  let task: Task;
  try {
    task = await recordTask(id, key, ticket, body, frames, deps);
  } catch (error) {
    await deps.queue.dequeue(owner); // nothing was recorded: the ticket's place goes back
    throw error;
  }
  log({ msg: 'task recorded', taskId: id, owner });
  // Its owner's next task (nothing of the owner's queued before it): worth waiting a moment for the lease.
  return dispatchAndSubmit(task, queuePosition(ticket, served) === 1, requestId, deps);
}

async function storeKeyframes(id: string, body: GenerationRequest, deps: GenerationsDeps): Promise<[Keyframe | undefined, Keyframe | undefined]> {
  const storeFrame = async (name: 'frame0' | 'frame1', frame: KeyframeInput | null | undefined) =>
    !frame ? undefined : frame.kind === 'url' ? ({ kind: 'url', url: frame.url } as Keyframe) : deps.media.putKeyframe(name, frame, id);
  return Promise.all([storeFrame('frame0', body.image_url), storeFrame('frame1', body.image_end_url)]);
}

async function recordTask(
  id: string,
  { owner, keyHash }: ApiKeyRecord,
  ticket: number,
  body: GenerationRequest,
  [frame0, frame1]: [Keyframe | undefined, Keyframe | undefined],
  deps: GenerationsDeps,
): Promise<Task> {
  const { model, resolution, duration } = effectiveChoices(body, deps.offer);

  const task = newTask({
    id,
    owner,
    request: {
      prompt: body.user_prompt,
      expandPrompt: body.expand_prompt,
      loop: body.loop,
      aspectRatio: body.aspect_ratio,
      resolution,
      duration,
      frame0,
      frame1,
    },
    provider: deps.provider.name,
    model,
    now: (deps.clock ?? systemClock)(),
    timeoutSeconds: deps.queue.timeoutSeconds,
    queueTicket: ticket,
    // The client's webhook stays here: the upstream is only ever given the task's own marker.
    ...(body.callback_url && { callback: { url: body.callback_url, events: body.callback_events ?? [...DEFAULT_WEBHOOK_EVENTS], keyHash } }),
    upstreamMarker: deps.publicBaseUrl && markerUrl(deps.publicBaseUrl, id, randomBytes(32).toString('base64url')),
  });
  await deps.tasks.create(task);
  return task;
}

async function dispatchAndSubmit(recorded: Task, ownersNext: boolean, requestId: string, deps: GenerationsDeps): Promise<PublicGeneration> {
  let task = recorded;
  const { id, owner } = task;
  let admitted: string[] = [];
  // Other tasks it admits get their workflows at once; its own is submitted first, while the client waits.
  const others: Promise<void>[] = [];
  try {
    // Its own task as a hint: the indexes of the queue may not show it yet. When another dispatcher is
    // running, it is left a note and dispatches again: this task may be admitted there, its workflow started.
    const onAdmitted = (admittedId: string) => void (admittedId !== id && others.push(deps.dispatcher.start([admittedId])));
    admitted = (await deps.dispatcher.dispatch({ hint: { owner, taskId: id }, onAdmitted, waitForLease: ownersNext, rounds: 1 })).admitted;
  } catch (error) {
    // The task is queued: the next release, or the reconciler, dispatches it.
    log({ level: 'warn', msg: 'dispatch failed; the task stays queued', taskId: id, error: (error as Error).name });
  }
  let refused = false;
  try {
    if (admitted.includes(id)) task = await submitAdmitted(id, deps);
  } catch (error) {
    refused = true;
    throw error;
  } finally {
    // Its own workflow too, unless the upstream refused it (it is failed).
    if (admitted.includes(id) && !refused) others.push(deps.dispatcher.start([id]));
    await Promise.all(others);
  }
  const position = isQueued(task) ? await deps.queue.position(owner, task.queueTicket!) : undefined;
  return toPublicGeneration(task, undefined, requestId, position);
}

/** The fast path: the task got a slot at once, so it is submitted now, while the client waits. */
async function submitAdmitted(id: string, deps: GenerationsDeps): Promise<Task> {
  const task = (await deps.tasks.get(id))!;
  try {
    const outcome = await submitTask(task, deps);
    return outcome.submitted ? outcome.task : task;
  } catch (error) {
    if (error instanceof UpstreamRejectedError) {
      log({ level: 'warn', msg: 'upstream rejected task', taskId: id, failureCode: error.failureCode });
      throw new UpstreamRejectedError(error.message, {
        status: error.status,
        failureCode: error.failureCode,
        details: { task_id: id },
        cause: error,
      });
    }
    log({ level: 'warn', msg: 'submit deferred to workflow', taskId: id, error: (error as Error).name });
    return task;
  }
}

export async function getGeneration(owner: string, taskId: string, requestId: string, deps: GenerationsDeps): Promise<PublicGeneration> {
  return viewGeneration(await ownTask(owner, taskId, deps), requestId, deps);
}

/** The caller's own task. Another owner's is answered exactly like a missing one, so ids reveal nothing across tenants. */
export async function ownTask(owner: string, taskId: string, deps: { tasks: Pick<TaskStore, 'get'> }): Promise<Task> {
  const task = await deps.tasks.get(taskId);
  if (!task || task.owner !== owner) throw new NotFoundError(`No generation with id ${taskId}.`);
  return task;
}
