/**
 * The API's routes: the aggregator API's paths and methods, each authenticating the caller's key to an owner,
 * parsing, calling the operation, and mapping results and errors to HTTP. The API function is the proxy
 * integration of every path and method of the REST API (`/` and `/{proxy+}`, ANY), so unknown routes and
 * methods get the same JSON errors as everything else. Everything it reaches is a port (handler.ts wires).
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { ApiKeyRecord, ApiKeyStore } from '../commons/ports/api-key-store.ts';
import { bearerToken, hashApiKey } from '../commons/domain/api-key.ts';
import { describeIssues, type generationRequestSchemaFor } from '../commons/domain/generation-request.ts';
import { isGatewayId } from '../commons/domain/ids.ts';
import { asGatewayError, BadRequestError, MethodNotAllowedError, NotFoundError, UnauthorizedError } from '../commons/errors.ts';
import { log } from '../commons/log.ts';
import { systemClock, type Clock } from '../commons/clock.ts';
import { errorResponse, json, parseJsonBody, requestFromEvent, type HttpRequest, type HttpResponse } from './http.ts';
import { createGeneration, getGeneration, type GenerationsDeps } from './generations.ts';
import { cancelGeneration, deleteGeneration, listGenerations, type TaskOperationsDeps } from './task-operations.ts';
import { parseListQuery } from '../commons/domain/generation-list.ts';
import { serveOnce, type IdempotencyDeps } from './idempotency.ts';
import { correlate } from '../commons/observability/observed-handler.ts';
import { acceptUpstreamCallback, type CallbackDeps } from './upstream-callbacks.ts';
import { isCallbackPath, parseCallbackPath } from '../commons/domain/upstream-marker.ts';
import { uploadRequestSchema } from '../commons/domain/upload.ts';
import { createUpload, resolveUploads, type UploadDeps } from '../commons/services/uploads.ts';
import { isPreflight, originAllowed, preflightHeaders, responseCorsHeaders } from '../commons/domain/cors.ts';
import { listDeliveries, retryDelivery, type DeliveriesDeps } from './deliveries.ts';
import { isSitePath, serveSite, type SiteDeps } from './site.ts';

export interface ApiDeps {
  keys: Pick<ApiKeyStore, 'find' | 'touch'>;
  idempotency: IdempotencyDeps;
  uploads: UploadDeps;
  generations: GenerationsDeps & TaskOperationsDeps;
  /** What the upstream's callbacks reach: the task, the upstream's read, the workflow's wait. */
  callbacks: CallbackDeps;
  /** The webhook delivery ledger (deliveries.ts). */
  deliveries: DeliveriesDeps;
  /** The request schema for the deployment's offer (generationRequestSchemaFor): its parse is all a route needs. */
  requestSchema: Pick<ReturnType<typeof generationRequestSchemaFor>, 'safeParse'>;
  /** Origins whose browsers may call the API (CORS); empty: none. */
  corsOrigins: readonly string[];
  /** The public pages: the OpenAPI document and the playground (site.ts). */
  site: SiteDeps;
  clock?: Clock;
}

const COLLECTION = /^\/luma\/generations\/?$/;
const UPLOADS = /^\/luma\/uploads\/?$/;
const ITEM = /^\/luma\/generations\/([^/]+)\/?$/;
const DELIVERIES = /^\/luma\/generations\/([^/]+)\/deliveries\/?$/;
const DELIVERY_RETRY = /^\/luma\/generations\/([^/]+)\/deliveries\/([^/]+)\/retry\/?$/;
const CANCEL = /^\/luma\/generations\/([^/]+)\/cancel\/?$/;

export async function handleRequest(event: APIGatewayProxyEvent, deps: ApiDeps): Promise<HttpResponse> {
  const request = requestFromEvent(event);
  const { requestId, method, path, headers } = request;
  // A preflight from an allowed origin, on any path; any other OPTIONS is routed (and refused) like any method.
  if (isPreflight(method, headers) && originAllowed(headers.origin, deps.corsOrigins)) {
    log({ msg: 'request', requestId, method, path: routeTemplate(path), status: 204, preflight: true });
    return { statusCode: 204, headers: { ...preflightHeaders(headers.origin), 'x-request-id': requestId }, body: '' };
  }
  let response: HttpResponse;
  try {
    response = await route(request, deps);
    log({ msg: 'request', requestId, method, path: routeTemplate(path), status: response.statusCode });
  } catch (raised) {
    const error = asGatewayError(raised);
    response = errorResponse(error, requestId, log);
    log({ msg: 'request', requestId, method, status: response.statusCode, error: (error as Error)?.name });
  }
  Object.assign(response.headers, responseCorsHeaders(headers.origin, deps.corsOrigins));
  return response;
}

async function route(request: HttpRequest, deps: ApiDeps): Promise<HttpResponse> {
  const { method, path, requestId } = request;
  const page = await serveSite(request, deps.site);
  if (page) return page;
  if (COLLECTION.test(path)) {
    if (method === 'GET') return list(request, deps);
    if (method !== 'POST') throw new MethodNotAllowedError(`${method} is not supported here; use GET or POST.`);
    const key = await authenticate(request, deps);
    const { owner } = key;
    const body = parseJsonBody(request);
    const parsed = deps.requestSchema.safeParse(body);
    if (!parsed.success) {
      throw new BadRequestError('The request body is invalid.', { details: describeIssues(parsed.error) });
    }
    if (parsed.data.callback_url && !key.webhookSecret) {
      const message = 'this key has no webhook secret to sign deliveries with: the operator gives it one (npm run keys -- webhook-secret <name>)';
      throw new BadRequestError('The request body is invalid.', { details: [{ field: 'callback_url', message }] });
    }
    return serveOnce(
      { owner, key: request.headers['idempotency-key'], body, requestId },
      // Uploads are resolved first: a bad one is the client's 400 before anything is admitted or recorded.
      async (taskId) => {
        correlate(taskId);
        const resolved = await resolveUploads(owner, parsed.data, deps.uploads);
        return json(200, await createGeneration(key, resolved, requestId, { ...deps.generations, newId: () => taskId }), requestId);
      },
      async (taskId) => {
        correlate(taskId);
        return json(200, await getGeneration(owner, taskId, requestId, deps.generations), requestId);
      },
      deps.idempotency,
    );
  }
  if (UPLOADS.test(path)) {
    if (method !== 'POST') throw new MethodNotAllowedError(`${method} is not supported here; use POST.`);
    const { owner } = await authenticate(request, deps);
    const parsed = uploadRequestSchema.safeParse(parseJsonBody(request));
    if (!parsed.success) {
      throw new BadRequestError('The request body is invalid.', { details: describeIssues(parsed.error) });
    }
    return json(200, await createUpload(owner, parsed.data, deps.uploads), requestId);
  }
  if (isCallbackPath(path)) {
    if (method !== 'POST') throw new MethodNotAllowedError(`${method} is not supported here; use POST.`);
    const callback = parseCallbackPath(path);
    if (!callback) throw new NotFoundError('No such callback.');
    correlate(callback.taskId);
    await acceptUpstreamCallback(callback.taskId, callback.token, deps.callbacks);
    return { statusCode: 204, headers: { 'x-request-id': requestId, 'cache-control': 'no-store' }, body: '' };
  }
  const deliveries = DELIVERIES.exec(path);
  if (deliveries) {
    if (method !== 'GET') throw new MethodNotAllowedError(`${method} is not supported here; use GET.`);
    const { owner } = await authenticate(request, deps);
    return json(200, await listDeliveries(owner, taskIdOf(deliveries[1]!), deps.deliveries), requestId);
  }
  const retry = DELIVERY_RETRY.exec(path);
  if (retry) {
    if (method !== 'POST') throw new MethodNotAllowedError(`${method} is not supported here; use POST.`);
    const { owner } = await authenticate(request, deps);
    return json(202, await retryDelivery(owner, taskIdOf(retry[1]!), retry[2]!, deps.deliveries), requestId);
  }
  const cancel = CANCEL.exec(path);
  if (cancel) {
    if (method !== 'POST') throw new MethodNotAllowedError(`${method} is not supported here; use POST.`);
    const { owner } = await authenticate(request, deps);
    return json(200, await cancelGeneration(owner, taskIdOf(cancel[1]!), requestId, deps.generations), requestId);
  }
  const item = ITEM.exec(path);
  if (item) {
    if (method !== 'GET' && method !== 'DELETE') throw new MethodNotAllowedError(`${method} is not supported here; use GET or DELETE.`);
    const { owner } = await authenticate(request, deps);
    const taskId = taskIdOf(item[1]!);
    if (method === 'GET') return json(200, await getGeneration(owner, taskId, requestId, deps.generations), requestId);
    await deleteGeneration(owner, taskId, deps.generations);
    return { statusCode: 204, headers: { 'x-request-id': requestId, 'cache-control': 'no-store' }, body: '' };
  }
  throw new NotFoundError(`No route for ${method} ${path.slice(0, 200)}.`);
}

/** `GET /luma/generations?limit=&cursor=&state=`: the caller's generations, newest first. */
async function list(request: HttpRequest, deps: ApiDeps): Promise<HttpResponse> {
  const { owner } = await authenticate(request, deps);
  const parsed = parseListQuery(request.query);
  if (!parsed.ok) throw new BadRequestError('The query is invalid.', { details: parsed.issues });
  return json(200, await listGenerations(owner, parsed.page, request.requestId, deps.generations), request.requestId);
}

/** A task id from the path, which then correlates the request's log lines; anything not one of ours is simply not found. */
function taskIdOf(segment: string): string {
  const taskId = segment.toLowerCase();
  if (!isGatewayId(taskId)) throw new NotFoundError('No generation with that id.');
  correlate(taskId);
  return taskId;
}

/** The path as logged: ids and callback tokens never reach a log line. */
function routeTemplate(path: string): string {
  if (COLLECTION.test(path) || UPLOADS.test(path) || isSitePath(path)) return path;
  if (CANCEL.test(path)) return '/luma/generations/{id}/cancel';
  if (DELIVERIES.test(path)) return '/luma/generations/{id}/deliveries';
  if (DELIVERY_RETRY.test(path)) return '/luma/generations/{id}/deliveries/{delivery_id}/retry';
  return isCallbackPath(path) ? '/luma/upstream-callbacks/{id}/{token}' : '/luma/generations/{id}';
}

/** The caller's key record. Unknown, malformed and revoked keys get the same answer, giving nothing away. */
async function authenticate(request: HttpRequest, deps: ApiDeps): Promise<ApiKeyRecord> {
  const token = bearerToken(request.headers.authorization);
  const key = token && (await deps.keys.find(hashApiKey(token)));
  if (!key) throw new UnauthorizedError('Missing or invalid API key. Send "Authorization: Bearer <key>".');
  await deps.keys.touch(key, (deps.clock ?? systemClock)());
  return key;
}
