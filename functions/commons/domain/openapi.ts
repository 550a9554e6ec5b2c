/**
 * The OpenAPI 3.1 document of the API, built from the zod schemas that validate the requests and type the
 * answers (zod 4's JSON Schema output is JSON Schema 2020-12, OpenAPI 3.1's own dialect). Served at
 * `GET /openapi.json` for the deployment's offer of models, resolutions and durations, and written to
 * `openapi.json` by `npm run build` for a gateway whose operator restricts nothing.
 *
 * Descriptions live here, in a registry beside the schemas rather than inside them: the schemas stay the
 * contract, the words the documentation of it.
 */
// A namespace import: `import { z }` keeps all of zod (every locale) in a bundle, this only what is used.
import * as z from 'zod';
import { generationRequestSchemaFor, KEYFRAME_URL_MAX_LENGTH } from './generation-request.ts';
import { publicGenerationSchema } from './public-generation-schema.ts';
import { uploadRequestSchema, uploadTicketSchema, UPLOAD_LIFETIME_SECONDS, UPLOAD_URL_MAX_SECONDS } from './upload.ts';
import { errorBodySchema } from './error-body.ts';
import { generationListSchema, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, LIST_STATES } from './generation-list.ts';
import { FULL_OFFER, GENERATION_OPTION_NAMES, type GenerationOffer } from './luma-options.ts';
import { describeBytes, MAX_BODY_BYTES, MAX_INLINE_KEYFRAME_BYTES, MAX_UPLOAD_BYTES } from './payload-limits.ts';
import { FAILURE_CODES } from './failure.ts';
import * as examples from './openapi-examples.ts';
import { deliveryListSchema, deliveryRetrySchema } from './delivery-view.ts';
import { WEBHOOK_EVENTS } from './generation-events.ts';

export const OPENAPI_VERSION = '3.1.0';
/** The API's own version: raised when a shape changes in a way a client could notice. */
export const API_VERSION = '1.2.0';

type Json = Record<string, unknown>;
interface Docs {
  description?: string;
  examples?: unknown[];
}

function documented(offer: GenerationOffer) {
  const docs = z.registry<Docs>();
  const request = generationRequestSchemaFor(offer);
  const fields = request.shape;
  const keyframe =
    `An http(s) URL (at most ${KEYFRAME_URL_MAX_LENGTH} characters); a PNG, JPEG or WebP image in Base64, as a \`data:\` URI or bare, ` +
    `up to ${describeBytes(MAX_INLINE_KEYFRAME_BYTES)}; or the \`image_url\` of an upload (\`upload:<id>\`) for one up to ${describeBytes(MAX_UPLOAD_BYTES)}.`;
  docs.add(fields.user_prompt, { description: 'What to generate. Trimmed; 3 to 5000 characters.', examples: ['A graceful pink flamingo in turquoise water'] });
  docs.add(fields.expand_prompt, { description: 'Accepted and recorded for clients of the aggregator format; the official Luma API has no such switch.' });
  docs.add(fields.loop, { description: 'A video that loops seamlessly. Not with an end keyframe.' });
  docs.add(fields.image_url, { description: `The start keyframe. ${keyframe}` });
  docs.add(fields.image_end_url, { description: `The end keyframe, or \`false\` for none. ${keyframe}` });
  docs.add(fields.callback_url, {
    description:
      'Your webhook, signed per Standard Webhooks with your key’s secret: https on a public address (checked at connect time; no redirect ' +
      'followed; `npm start` also allows loopback http). Never sent upstream.',
    examples: ['https://hooks.example.com/luma'],
  });
  docs.add(fields.callback_events, { description: `The changes to send it: any of ${WEBHOOK_EVENTS.join(', ')}. Without it: completed and failed.` });
  docs.add(fields.aspect_ratio, { description: 'The frame’s shape; without it, the upstream’s default (16:9).' });
  for (const name of GENERATION_OPTION_NAMES) {
    const { default: fallback, allowed } = offer[name];
    docs.add(fields[name], { description: `Without it, this gateway’s default: ${fallback}. Offered here: ${allowed.join(', ')}.` });
  }
  const generation = publicGenerationSchema.shape;
  docs.add(generation.state, { description: '`pending` → `processing` → `completed` | `failed`.' });
  docs.add(generation.queue_state, { description: '`queued` while the task waits for an upstream slot; then null.' });
  docs.add(generation.queue_position, { description: 'While queued: its place among the caller’s own queued tasks (1 = the next of theirs to start).' });
  docs.add(generation.video, {
    description: 'When completed: the stored MP4, presigned on the gateway’s bucket (`url` to play, `download_url` to save), its measured size, duration and SHA-256.',
  });
  docs.add(generation.video_raw, { description: 'The upstream’s own link to the video (it expires at the upstream’s will).' });
  docs.add(generation.failure_code, { description: `When failed, one of: ${FAILURE_CODES.join(', ')}. Stable; meant for programs.` });
  docs.add(generation.failure_reason, { description: 'When failed, why, in words.' });
  docs.add(generation.estimate_wait_seconds, { description: 'Always null: an honest figure would need the upstream’s undocumented generation times.' });
  docs.add(generation.data, { description: 'The Kling-style envelope of the aggregator format, for clients that read it.' });
  const upload = uploadTicketSchema.shape;
  docs.add(upload.upload_url, { description: `PUT exactly the announced bytes here, with exactly \`headers\`, within ${UPLOAD_URL_MAX_SECONDS / 60} minutes.` });
  docs.add(upload.image_url, { description: `Send this as \`image_url\` or \`image_end_url\`, as often as you like, within ${UPLOAD_LIFETIME_SECONDS / 60} minutes.` });
  return { docs, request };
}

/** The request's choices as this gateway offers them: only the allowed values, with its default. */
function offered(schema: Json, offer: GenerationOffer): Json {
  const properties = { ...(schema.properties as Record<string, Json>) };
  for (const name of GENERATION_OPTION_NAMES) properties[name] = { ...properties[name], enum: [...offer[name].allowed], default: offer[name].default };
  return { ...schema, properties };
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output', docs: z.core.$ZodRegistry<Docs>): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, metadata: docs, unrepresentable: 'any', target: 'draft-2020-12' }) as Json;
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const jsonContent = (schema: string, content: Json = {}) => ({ 'application/json': { schema: ref(schema), ...content } });
const errorResponse = (status: string, description: string, extra: Json = {}) => {
  const example = examples.exampleErrors[status];
  return { description, ...extra, content: jsonContent('Error', example ? { examples: { [status]: example } } : {}) };
};
const responseRef = (name: string) => ({ $ref: `#/components/responses/${name}` });

const REQUEST_ID_HEADER = { 'X-Request-Id': { $ref: '#/components/headers/XRequestId' } };
const TASK_ID = { $ref: '#/components/parameters/TaskId' };
/** The errors any authenticated route may answer. */
const COMMON_ERRORS = { 401: responseRef('Unauthorized'), 429: responseRef('TooManyRequests'), 503: responseRef('ServiceUnavailable') };

export interface OpenApiOptions {
  /** The deployment's models, resolutions and durations. @default everything Luma offers, with the gateway's defaults */
  offer?: GenerationOffer;
}

export function openApiDocument(options: OpenApiOptions = {}): Json {
  const offer = options.offer ?? FULL_OFFER;
  const { docs, request } = documented(offer);
  return {
    openapi: OPENAPI_VERSION,
    info: {
      title: 'Luma video gateway',
      version: API_VERSION,
      summary: 'Luma video generation behind your own AWS account: the aggregator format’s routes, the videos in your S3 bucket.',
      description:
        'Create a generation, follow it until it is `completed` or `failed`, and fetch the stored video. Every request but the public pages ' +
        'carries `Authorization: Bearer <key>`; each key is one tenant, who sees only its own generations.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [
      { url: 'http://127.0.0.1:3000', description: '`npm start` on this machine' },
      {
        url: 'https://{apiId}.execute-api.{region}.amazonaws.com/prod',
        description: 'A deployed gateway: the stack’s `ApiUrl` output',
        variables: { apiId: { default: 'abcdef1234' }, region: { default: 'us-east-1' } },
      },
    ],
    security: [{ bearer: [] }],
    tags: [
      { name: 'generations', description: 'Videos from a prompt and keyframes' },
      { name: 'uploads', description: 'Keyframes too large to send inline' },
      { name: 'public', description: 'No key needed' },
    ],
    paths: {
      '/luma/generations': {
        post: {
          operationId: 'createGeneration',
          tags: ['generations'],
          summary: 'Create a generation',
          description:
            'Queues the generation and answers at once with `state: "pending"`. With an `Idempotency-Key`, a retry of the same body within 24 hours ' +
            'answers the original task (header `Idempotent-Replayed: true`) and creates nothing.',
          parameters: [{ $ref: '#/components/parameters/IdempotencyKey' }],
          requestBody: {
            required: true,
            content: jsonContent('GenerationRequest', { examples: examples.exampleRequests }),
          },
          responses: {
            200: {
              description: 'The generation, `pending`.',
              headers: { ...REQUEST_ID_HEADER, 'Idempotent-Replayed': { $ref: '#/components/headers/IdempotentReplayed' } },
              content: jsonContent('Generation', { examples: { pending: examples.exampleGenerations.pending } }),
            },
            400: responseRef('BadRequest'),
            ...COMMON_ERRORS,
            409: errorResponse('409', 'The first request with this Idempotency-Key is still being served: retry shortly.'),
            413: errorResponse('413', `The body is over ${describeBytes(MAX_BODY_BYTES)}: upload large keyframes first.`),
            415: errorResponse('415', 'The body is not JSON.'),
            422: errorResponse('422', 'This Idempotency-Key came with another body.'),
            502: errorResponse('502', 'The upstream refused the gateway’s own account (key, credits, plan): the operator’s to fix.'),
          },
        },
        get: {
          operationId: 'listGenerations',
          tags: ['generations'],
          summary: 'List the caller’s generations, newest first',
          description:
            'A page at a time: pass `next_cursor` as `cursor` until it is null. Paging returns each generation once, even while new ones arrive. ' +
            'With `state`, a page may hold fewer than `limit` generations and still have a `next_cursor`.',
          parameters: [
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: LIST_LIMIT_MAX, default: LIST_LIMIT_DEFAULT } },
            { name: 'cursor', in: 'query', description: 'The previous page’s `next_cursor`.', schema: { type: 'string', minLength: 1, maxLength: 1024 } },
            {
              name: 'state',
              in: 'query',
              description:
                'Only generations in these states, separated by commas (`pending,processing`: everything unfinished). `data.task_status`’s words ' +
                'name the same states: `submitted` is `pending`, `succeed` is `completed`.',
              style: 'form',
              explode: false,
              schema: { type: 'array', minItems: 1, items: { type: 'string', enum: LIST_STATES } },
            },
          ],
          responses: {
            200: { description: 'A page of generations.', headers: REQUEST_ID_HEADER, content: jsonContent('GenerationList', { examples: { page: examples.exampleList } }) },
            400: responseRef('BadRequest'),
            ...COMMON_ERRORS,
          },
        },
      },
      '/luma/generations/{task_id}': {
        parameters: [TASK_ID],
        get: {
          operationId: 'getGeneration',
          tags: ['generations'],
          summary: 'The generation as it is now',
          responses: {
            200: { description: 'The generation.', headers: REQUEST_ID_HEADER, content: jsonContent('Generation', { examples: examples.exampleGenerations }) },
            404: responseRef('NotFound'),
            ...COMMON_ERRORS,
          },
        },
        delete: {
          operationId: 'deleteGeneration',
          tags: ['generations'],
          summary: 'Delete a finished generation and its stored files',
          description: 'Removes the stored video, thumbnail and keyframes; afterwards the task is a 404.',
          responses: {
            204: { description: 'Deleted.', headers: REQUEST_ID_HEADER },
            404: responseRef('NotFound'),
            409: { description: 'Not finished yet (`not_finished`): cancel it first.', content: jsonContent('Error') },
            ...COMMON_ERRORS,
          },
        },
      },
      '/luma/generations/{task_id}/cancel': {
        parameters: [TASK_ID],
        post: {
          operationId: 'cancelGeneration',
          tags: ['generations'],
          summary: 'Cancel an unfinished generation',
          description: 'Stops its workflow, deletes the upstream generation where the upstream allows it, and gives its slot back.',
          responses: {
            200: {
              description: 'The generation, `failed` with `failure_code: "cancelled"`.',
              headers: REQUEST_ID_HEADER,
              content: jsonContent('Generation', { examples: { cancelled: examples.exampleCancelled } }),
            },
            404: responseRef('NotFound'),
            409: { description: 'Already finished (`already_finished`).', content: jsonContent('Error', { examples: { finished: examples.exampleAlreadyFinished } }) },
            ...COMMON_ERRORS,
          },
        },
      },
      '/luma/generations/{task_id}/deliveries': {
        parameters: [TASK_ID],
        get: {
          operationId: 'listDeliveries',
          tags: ['generations'],
          summary: 'The generation’s webhook deliveries, and every attempt of each',
          responses: {
            200: { description: 'The deliveries, in the order of the changes.', headers: REQUEST_ID_HEADER, content: jsonContent('DeliveryList') },
            404: responseRef('NotFound'),
            ...COMMON_ERRORS,
          },
        },
      },
      '/luma/generations/{task_id}/deliveries/{delivery_id}/retry': {
        parameters: [TASK_ID, { name: 'delivery_id', in: 'path', required: true, schema: { type: 'string' }, description: 'The delivery’s `webhook-id`.' }],
        post: {
          operationId: 'retryDelivery',
          tags: ['generations'],
          summary: 'Send a delivery whose last run has ended again, with the same webhook-id',
          responses: {
            202: { description: 'A new run has started.', headers: REQUEST_ID_HEADER, content: jsonContent('DeliveryRetry') },
            404: responseRef('NotFound'),
            409: { description: 'A run is under way (`delivery_in_progress`).', content: jsonContent('Error') },
            ...COMMON_ERRORS,
          },
        },
      },
      '/luma/uploads': {
        post: {
          operationId: 'createUpload',
          tags: ['uploads'],
          summary: 'Ask for an upload URL for a keyframe',
          description: `PUT the file to \`upload_url\` with exactly \`headers\`, then send \`image_url\` in a generation. Files up to ${describeBytes(MAX_UPLOAD_BYTES)}.`,
          requestBody: { required: true, content: jsonContent('UploadRequest', { examples: { png: examples.exampleUploadRequest } }) },
          responses: {
            200: { description: 'The upload ticket.', headers: REQUEST_ID_HEADER, content: jsonContent('UploadTicket', { examples: { ticket: examples.exampleUploadTicket } }) },
            400: responseRef('BadRequest'),
            ...COMMON_ERRORS,
            415: errorResponse('415', 'The body is not JSON.'),
          },
        },
      },
      '/luma/upstream-callbacks/{task_id}/{token}': {
        post: {
          operationId: 'upstreamCallback',
          tags: ['public'],
          summary: 'For the upstream only: Luma’s callback to a task’s marker URL',
          description: 'A hint to look at the task now; the gateway reads the truth from the upstream. The exact token, or 404.',
          security: [],
          parameters: [TASK_ID, { name: 'token', in: 'path', required: true, schema: { type: 'string' } }],
          requestBody: { content: { 'application/json': { schema: {} } } },
          responses: { 204: { description: 'Taken as a hint.' }, 404: responseRef('NotFound') },
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'getOpenApiDocument',
          tags: ['public'],
          summary: 'This document, for this gateway’s offer of models, resolutions and durations',
          security: [],
          responses: { 200: { description: 'The OpenAPI 3.1 document.', content: { 'application/json': { schema: { type: 'object' } } } } },
        },
      },
      '/': {
        get: {
          operationId: 'getPlayground',
          tags: ['public'],
          summary: 'The web playground',
          security: [],
          responses: { 200: { description: 'An HTML page; its script and styles are served beside it.', content: { 'text/html': { schema: { type: 'string' } } } } },
        },
      },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A client key (`npm run keys -- create`, or `LOCAL_API_KEY` for `npm start`).' } },
      schemas: {
        GenerationRequest: offered(jsonSchema(request, 'input', docs), offer),
        Generation: jsonSchema(publicGenerationSchema, 'output', docs),
        GenerationList: jsonSchema(generationListSchema, 'output', docs),
        UploadRequest: jsonSchema(uploadRequestSchema, 'input', docs),
        UploadTicket: jsonSchema(uploadTicketSchema, 'output', docs),
        DeliveryList: jsonSchema(deliveryListSchema, 'output', docs),
        DeliveryRetry: jsonSchema(deliveryRetrySchema, 'output', docs),
        Error: jsonSchema(errorBodySchema, 'output', docs),
      },
      parameters: {
        TaskId: { name: 'task_id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
        IdempotencyKey: {
          name: 'Idempotency-Key',
          in: 'header',
          description: 'Makes retries safe for 24 hours: the same key and body answer the original task. Per key owner.',
          schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' },
          example: '0b5c6f1e-2d3a-4b8c-9e7f-1a2b3c4d5e6f',
        },
      },
      headers: {
        XRequestId: { description: 'Quote it when asking about a request.', schema: { type: 'string' } },
        IdempotentReplayed: { description: '`true` when the answer is the original one for this Idempotency-Key.', schema: { type: 'string', enum: ['true'] } },
        RetryAfter: { description: 'Seconds to wait before trying again.', schema: { type: 'integer', minimum: 0 } },
      },
      responses: {
        BadRequest: errorResponse('400', 'The request is invalid: `details` names each field.', { headers: REQUEST_ID_HEADER }),
        Unauthorized: errorResponse('401', 'No key, or an unknown or revoked one.'),
        NotFound: errorResponse('404', 'No such generation (another key owner’s are not found either).'),
        TooManyRequests: errorResponse('429', 'A per-key limit or the edge’s per-client limit: nothing was created.', {
          headers: { 'Retry-After': { $ref: '#/components/headers/RetryAfter' } },
        }),
        ServiceUnavailable: errorResponse('503', 'The gateway’s own storage kept throttling it: try again.'),
      },
    },
  };
}
