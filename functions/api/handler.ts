/**
 * API Lambda: routes the seed API, authenticates the caller's key to an owner, and maps results and
 * errors to HTTP. It is the proxy integration of every path and method of the REST API (`/` and
 * `/{proxy+}`, ANY), so unknown routes and methods get the same JSON errors as everything else.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { dynamo } from '../commons/clients/dynamodb.ts';
import { s3, s3Presigner } from '../commons/clients/s3.ts';
import { secrets } from '../commons/clients/secrets.ts';
import { sfn } from '../commons/clients/sfn.ts';
import { settings } from '../commons/config.ts';
import { DynamoDbApiKeyStore, type ApiKeyRecord } from '../commons/adapters/api-key-store.ts';
import { MediaStore } from '../commons/adapters/media-store.ts';
import { StepFunctionsWorkflow } from '../commons/adapters/workflow.ts';
import { configuredProvider, taskServices } from '../commons/services/wiring.ts';
import { bearerToken, hashApiKey } from '../commons/domain/api-key.ts';
import { describeIssues, generationRequestSchemaFor } from '../commons/domain/generation-request.ts';
import { BadRequestError, MethodNotAllowedError, NotFoundError, UnauthorizedError } from '../commons/errors.ts';
import { log } from '../commons/log.ts';
import { errorResponse, json, parseJsonBody, requestFromEvent, type HttpRequest, type HttpResponse } from './http.ts';
import { createGeneration, getGeneration, type GenerationsDeps } from './generations.ts';
import { serveOnce } from './idempotency.ts';
import { acceptUpstreamCallback } from './upstream-callbacks.ts';
import { isCallbackPath, parseCallbackPath } from '../commons/domain/upstream-marker.ts';
import { IdempotencyStore } from '../commons/adapters/idempotency-store.ts';
import { DynamoDbUploadStore } from '../commons/adapters/upload-store.ts';
import { uploadRequestSchema } from '../commons/domain/upload.ts';
import { createUpload, resolveUploads, type UploadDeps } from '../commons/services/uploads.ts';
import { isPreflight, originAllowed, preflightHeaders, responseCorsHeaders } from '../commons/domain/cors.ts';
import { isSitePath, serveSite, siteDeps } from './site.ts';

const tableName = settings.tableName();
const keys = new DynamoDbApiKeyStore(dynamo, tableName);
const idempotency = { store: new IdempotencyStore(dynamo, tableName) };
const offer = settings.generationOffer();
const corsOrigins = settings.corsAllowedOrigins();
const requestSchema = generationRequestSchemaFor(offer);
const media = new MediaStore(s3, settings.bucketName(), s3Presigner);
const uploads: UploadDeps = { uploads: new DynamoDbUploadStore(dynamo, tableName), media };
const site = siteDeps(offer, media);
const deps: GenerationsDeps = {
  ...taskServices(dynamo, tableName),
  media,
  workflow: new StepFunctionsWorkflow(sfn, settings.stateMachineArn()),
  provider: configuredProvider(secrets),
  keyframeUrlExpirySeconds: settings.keyframeUrlExpirySeconds(),
  generationTimeoutSeconds: settings.generationTimeoutSeconds(),
  presignExpirySeconds: settings.presignExpirySeconds(),
  publicBaseUrl: settings.publicBaseUrl(),
  offer,
};

const COLLECTION = /^\/luma\/generations\/?$/;
const UPLOADS = /^\/luma\/uploads\/?$/;
const ITEM = /^\/luma\/generations\/([^/]+)\/?$/;
const TASK_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export async function handler(event: APIGatewayProxyEvent): Promise<HttpResponse> {
  const request = requestFromEvent(event);
  const { requestId, method, path, headers } = request;
  // A preflight from an allowed origin, on any path; any other OPTIONS is routed (and refused) like any method.
  if (isPreflight(method, headers) && originAllowed(headers.origin, corsOrigins)) {
    log({ msg: 'request', requestId, method, path: routeTemplate(path), status: 204, preflight: true });
    return { statusCode: 204, headers: { ...preflightHeaders(headers.origin), 'x-request-id': requestId }, body: '' };
  }
  let response: HttpResponse;
  try {
    response = await route(request);
    log({ msg: 'request', requestId, method, path: routeTemplate(path), status: response.statusCode });
  } catch (error) {
    response = errorResponse(error, requestId, log);
    log({ msg: 'request', requestId, method, status: response.statusCode, error: (error as Error)?.name });
  }
  Object.assign(response.headers, responseCorsHeaders(headers.origin, corsOrigins));
  return response;
}

async function route(request: HttpRequest): Promise<HttpResponse> {
  const { method, path, requestId } = request;
  const page = await serveSite(request, site);
  if (page) return page;
  if (COLLECTION.test(path)) {
    if (method !== 'POST') throw new MethodNotAllowedError(`${method} is not supported here; use POST.`);
    const key = await authenticate(request);
    const { owner } = key;
    const body = parseJsonBody(request);
    const parsed = requestSchema.safeParse(body);
    if (!parsed.success) {
      throw new BadRequestError('The request body is invalid.', { details: describeIssues(parsed.error) });
    }
    return serveOnce(
      { owner, key: request.headers['idempotency-key'], body, requestId },
      // Uploads are resolved first: a bad one is the client's 400 before anything is admitted or recorded.
      async (taskId) => {
        const resolved = await resolveUploads(owner, parsed.data, uploads);
        return json(200, await createGeneration(key, resolved, requestId, { ...deps, newId: () => taskId }), requestId);
      },
      async (taskId) => json(200, await getGeneration(owner, taskId, requestId, deps), requestId),
      idempotency,
    );
  }
  if (UPLOADS.test(path)) {
    if (method !== 'POST') throw new MethodNotAllowedError(`${method} is not supported here; use POST.`);
    const { owner } = await authenticate(request);
    const parsed = uploadRequestSchema.safeParse(parseJsonBody(request));
    if (!parsed.success) {
      throw new BadRequestError('The request body is invalid.', { details: describeIssues(parsed.error) });
    }
    return json(200, await createUpload(owner, parsed.data, uploads), requestId);
  }
  if (isCallbackPath(path)) {
    if (method !== 'POST') throw new MethodNotAllowedError(`${method} is not supported here; use POST.`);
    const callback = parseCallbackPath(path);
    if (!callback) throw new NotFoundError('No such callback.');
    await acceptUpstreamCallback(callback.taskId, callback.token, deps);
    return { statusCode: 204, headers: { 'x-request-id': requestId, 'cache-control': 'no-store' }, body: '' };
  }
  const item = ITEM.exec(path);
  if (item) {
    if (method !== 'GET') throw new MethodNotAllowedError(`${method} is not supported here; use GET.`);
    const { owner } = await authenticate(request);
    const taskId = item[1]!.toLowerCase();
    // Ids are plain UUIDs: anything else (encoded slashes, traversal, junk) is simply not a task.
    if (!TASK_ID.test(taskId)) throw new NotFoundError('No generation with that id.');
    return json(200, await getGeneration(owner, taskId, requestId, deps), requestId);
  }
  throw new NotFoundError(`No route for ${method} ${path.slice(0, 200)}.`);
}

/** The path as logged: ids and callback tokens never reach a log line. */
function routeTemplate(path: string): string {
  if (COLLECTION.test(path) || UPLOADS.test(path) || isSitePath(path)) return path;
  return isCallbackPath(path) ? '/luma/upstream-callbacks/{id}/{token}' : '/luma/generations/{id}';
}

/** The caller's key record. Unknown, malformed and revoked keys get the same answer, giving nothing away. */
async function authenticate(request: HttpRequest): Promise<ApiKeyRecord> {
  const token = bearerToken(request.headers.authorization);
  const key = token && (await keys.find(hashApiKey(token)));
  if (!key) throw new UnauthorizedError('Missing or invalid API key. Send "Authorization: Bearer <key>".');
  await keys.touch(key, new Date());
  return key;
}
