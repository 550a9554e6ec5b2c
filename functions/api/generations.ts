/**
 * The two operations of the seed API, free of HTTP: the handler authenticates and parses, these decide.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Workflow } from '../commons/adapters/workflow.ts';
import type { GenerationRequest, KeyframeInput } from '../commons/domain/generation-request.ts';
import { newTask, type Keyframe, type Task } from '../commons/domain/task.ts';
import { markerUrl } from '../commons/domain/upstream-marker.ts';
import { toSeedGeneration, type SeedGeneration } from '../commons/domain/seed-response.ts';
import { NotFoundError, UpstreamRejectedError } from '../commons/errors.ts';
import { submitTask, type SubmitDeps } from '../commons/services/submit.ts';
import { log } from '../commons/log.ts';
import type { ClientLimits } from '../commons/adapters/client-limits.ts';
import type { ApiKeyRecord } from '../commons/adapters/api-key-store.ts';
import { effectiveChoices, type GenerationOffer } from '../commons/domain/luma-options.ts';

export interface GenerationsDeps extends SubmitDeps {
  workflow: Workflow;
  clientLimits: Pick<ClientLimits, 'admit' | 'finished'>;
  generationTimeoutSeconds: number;
  presignExpirySeconds: number;
  /** Where the upstream can reach this gateway; unset: tasks carry no marker (config.ts). */
  publicBaseUrl?: string;
  /** The deployment's defaults fill in what a request leaves out; the request schema already checked the rest. */
  offer: GenerationOffer;
  clock?: () => Date;
  newId?: () => string;
}

/**
 * Within the key's limits, records the task, submits it if its turn has come, and starts its workflow.
 * Only a permanent upstream refusal reaches the client as an error (the task is then recorded as
 * failed); a full upstream or a transient error leaves the task `accepted`, in line, for the workflow.
 */
export async function createGeneration(
  key: ApiKeyRecord,
  body: GenerationRequest,
  requestId: string,
  deps: GenerationsDeps,
): Promise<SeedGeneration> {
  const { owner } = key;
  await deps.clientLimits.admit(key);
  const id = (deps.newId ?? randomUUID)();
  let task: Task;
  try {
    task = await recordTask(id, owner, body, deps);
  } catch (error) {
    await deps.clientLimits.finished(owner); // nothing was recorded: the key's count goes back
    throw error;
  }
  log({ msg: 'task recorded', taskId: id, owner });
  return submitAndStart(task, requestId, deps);
}

async function recordTask(id: string, owner: string, body: GenerationRequest, deps: GenerationsDeps): Promise<Task> {
  const storeFrame = async (name: 'frame0' | 'frame1', frame: KeyframeInput | null | undefined) =>
    !frame ? undefined : frame.kind === 'url' ? ({ kind: 'url', url: frame.url } as Keyframe) : deps.media.putKeyframe(name, frame, id);
  const [frame0, frame1] = await Promise.all([storeFrame('frame0', body.image_url), storeFrame('frame1', body.image_end_url)]);
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
    now: (deps.clock ?? (() => new Date()))(),
    timeoutSeconds: deps.generationTimeoutSeconds,
    upstreamMarker: deps.publicBaseUrl && markerUrl(deps.publicBaseUrl, id, randomBytes(32).toString('base64url')),
  });
  await deps.tasks.create(task);
  return task;
}

async function submitAndStart(recorded: Task, requestId: string, deps: GenerationsDeps): Promise<SeedGeneration> {
  let task = recorded;
  const id = task.id;
  let queuePosition: number | undefined;
  try {
    const outcome = await submitTask(task, deps);
    if (outcome.submitted) task = outcome.task;
    // `busy`: a workflow run is submitting it right now (it was started for the task meanwhile): not in line.
    else if (outcome.wait.reason !== 'busy') queuePosition = outcome.wait.position;
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
  }

  try {
    await deps.workflow.start({ taskId: id });
  } catch (error) {
    // The task is recorded: the reconciler starts the workflow of any unfinished task that has none.
    log({ level: 'error', msg: 'workflow not started; left to the reconciler', taskId: id, error: (error as Error).name });
  }
  return toSeedGeneration(task, undefined, requestId, queuePosition);
}

export async function getGeneration(owner: string, taskId: string, requestId: string, deps: GenerationsDeps): Promise<SeedGeneration> {
  const task = await deps.tasks.get(taskId);
  // Another owner's task is answered exactly like a missing one, so ids reveal nothing across tenants.
  if (!task || task.owner !== owner) throw new NotFoundError(`No generation with id ${taskId}.`);
  const [links, ahead] = await Promise.all([
    deps.media.outputLinks(task, deps.presignExpirySeconds),
    task.status === 'accepted' ? deps.tasks.countWaitingAhead(task) : undefined,
  ]);
  return toSeedGeneration(task, links, requestId, ahead === undefined ? undefined : ahead + 1);
}
