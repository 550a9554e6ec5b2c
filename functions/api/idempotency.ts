/**
 * Serving a POST at most once per `Idempotency-Key`: the first request claims the key and runs; a repeat
 * with the same body gets the first answer (the same task, the same status) without touching the
 * upstream, also when it arrives while the first is still running; a repeat with another body gets 422.
 */
import { randomUUID } from 'node:crypto';
import { isValidIdempotencyKey, requestFingerprint } from '../commons/domain/idempotency.ts';
import { BadRequestError, IdempotencyInProgressError, IdempotencyKeyReusedError, UpstreamRejectedError } from '../commons/errors.ts';
import { errorResponse, type HttpResponse } from './http.ts';
import { log } from '../commons/log.ts';
import type { IdempotencyRecord, IdempotencyStore } from '../commons/ports/idempotency-store.ts';

export interface IdempotentRequest {
  owner: string;
  key: string | undefined;
  body: unknown;
  requestId: string;
}

export interface IdempotencyDeps {
  store: IdempotencyStore;
  /** How long a repeat waits for the first request to finish before answering 409. @default 10 s */
  waitMs?: number;
}

export async function serveOnce(
  request: IdempotentRequest,
  create: (taskId: string) => Promise<HttpResponse>,
  replay: (taskId: string) => Promise<HttpResponse>,
  deps: IdempotencyDeps,
): Promise<HttpResponse> {
  if (request.key === undefined) return create(randomUUID());
  if (!isValidIdempotencyKey(request.key)) {
    throw new BadRequestError('Idempotency-Key must be 1 to 255 visible ASCII characters.');
  }
  const { owner, key, requestId } = request;
  const fingerprint = requestFingerprint(request.body);
  const taskId = randomUUID();
  const claim = await deps.store.claim(owner, key, fingerprint, taskId);
  if (!claim.claimed) return answerRepeat(claim.record, request, replay, deps);

  const settled: IdempotencyRecord = { ...claim.record, state: 'done', statusCode: 200 };
  let response: HttpResponse;
  try {
    response = await create(taskId);
  } catch (error) {
    response = errorResponse(error, requestId, log);
    // A refusal is an answer worth repeating; a fault inside the gateway or a "too many, try later" is
    // not: the claim is deleted, so the key may be used again and a refused request leaves nothing behind.
    const status = response.statusCode ?? 500;
    const final = (status < 500 && status !== 429) || error instanceof UpstreamRejectedError;
    if (!final) {
      await deps.store.release(owner, key, taskId);
      return response;
    }
    Object.assign(settled, { statusCode: response.statusCode, errorBody: response.body });
  }
  await deps.store.settle(owner, key, settled);
  return response;
}

async function answerRepeat(
  first: IdempotencyRecord,
  request: IdempotentRequest,
  replay: (taskId: string) => Promise<HttpResponse>,
  deps: IdempotencyDeps,
): Promise<HttpResponse> {
  if (first.fingerprint !== requestFingerprint(request.body)) {
    throw new IdempotencyKeyReusedError('This Idempotency-Key was already used with a different request body.');
  }
  let record: IdempotencyRecord | undefined = first;
  const giveUpAt = Date.now() + (deps.waitMs ?? 10_000);
  while (record?.state === 'in_progress' && Date.now() < giveUpAt) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    record = await deps.store.get(request.owner, request.key!);
  }
  if (record?.state !== 'done') {
    throw new IdempotencyInProgressError('A request with this Idempotency-Key is still being processed; retry shortly.');
  }
  const response =
    record.statusCode === 200
      ? await replay(record.taskId)
      : { statusCode: record.statusCode ?? 500, headers: { 'content-type': 'application/json; charset=utf-8' }, body: record.errorBody ?? '' };
  return { ...response, headers: { ...response.headers, 'idempotent-replayed': 'true' } };
}
