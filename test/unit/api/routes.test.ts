/**
 * The API's routes against stand-ins for their ports: no emulator, no network. What the routes themselves
 * decide: authentication, methods, unknown paths and ids, preflights, and the edge's mapping of errors.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { handleRequest, type ApiDeps } from '../../../functions/api/routes.ts';
import { hashApiKey } from '../../../functions/commons/domain/api-key.ts';
import { FULL_OFFER } from '../../../functions/commons/domain/luma-options.ts';
import { generationRequestSchemaFor } from '../../../functions/commons/domain/generation-request.ts';
import { TransitionRefusedError, type Task } from '../../../functions/commons/domain/task.ts';
import type { ApiKeyRecord } from '../../../functions/commons/ports/api-key-store.ts';
import { siteDeps } from '../../../functions/api/site.ts';

const KEY = 'alice-key-0123456789abcdef';
const RECORD: ApiKeyRecord = { keyHash: hashApiKey(KEY), owner: 'own_alice', name: 'alice', createdAt: '2026-01-01T00:00:00.000Z' };
const NOW = new Date('2026-11-30T12:00:00.000Z');
const TASK_ID = '0b6f1c1e-2f4a-4c39-9a53-1d2e3f4a5b6c';

function deps(tasks: Partial<Record<string, Task | Error>> = {}) {
  const touched: [string, Date][] = [];
  const api: ApiDeps = {
    keys: {
      find: async (hash) => (hash === RECORD.keyHash ? RECORD : undefined),
      touch: async (key, now) => void touched.push([key.keyHash, now]),
    },
    idempotency: { store: {} as ApiDeps['idempotency']['store'] },
    uploads: {} as ApiDeps['uploads'],
    generations: {
      tasks: {
        get: async (id: string) => {
          const found = tasks[id];
          if (found instanceof Error) throw found;
          return found;
        },
      },
    } as unknown as ApiDeps['generations'],
    callbacks: {} as ApiDeps['callbacks'],
    deliveries: {} as ApiDeps['deliveries'],
    requestSchema: generationRequestSchemaFor(FULL_OFFER),
    corsOrigins: ['https://app.example.com'],
    site: siteDeps(FULL_OFFER, { linkOrigin: async () => 'https://bucket.example' }),
    clock: () => NOW,
  };
  return { api, touched };
}

function event(method: string, path: string, headers: Record<string, string> = {}, query?: Record<string, string[]>): APIGatewayProxyEvent {
  return {
    httpMethod: method,
    path,
    headers,
    multiValueHeaders: {},
    multiValueQueryStringParameters: query ?? null,
    body: null,
    isBase64Encoded: false,
    requestContext: { requestId: 'req-1' },
  } as unknown as APIGatewayProxyEvent;
}

const bearer = { authorization: `Bearer ${KEY}` };
const errorOf = (body: string) => (JSON.parse(body) as { error: { code: string } }).error.code;

describe('the routes', () => {
  it('answers 401 without a key or with an unknown one, before reading anything else', async () => {
    const { api } = deps();
    for (const headers of [{}, { authorization: 'Bearer nobody-0123456789abcdef' }] as Record<string, string>[]) {
      const response = await handleRequest(event('GET', `/luma/generations/${TASK_ID}`, headers), api);
      expect(response.statusCode).toBe(401);
      expect(errorOf(response.body)).toBe('unauthorized');
    }
  });

  it('records a use of the key on the clock it is given', async () => {
    const { api, touched } = deps();
    await handleRequest(event('GET', `/luma/generations/${TASK_ID}`, bearer), api);
    expect(touched).toEqual([[RECORD.keyHash, NOW]]);
  });

  it('answers 404 for a missing task, a malformed id, and an unknown path; 405 for a wrong method', async () => {
    const { api } = deps();
    const cases: [string, string, number, string][] = [
      ['GET', `/luma/generations/${TASK_ID}`, 404, 'not_found'],
      ['GET', '/luma/generations/..%2F..%2Fetc', 404, 'not_found'],
      ['GET', '/luma/elsewhere', 404, 'not_found'],
      ['DELETE', `/luma/generations/${TASK_ID}`, 404, 'not_found'],
      ['POST', `/luma/generations/${TASK_ID}/cancel`, 404, 'not_found'],
      ['POST', '/luma/generations/..%2F..%2Fetc/cancel', 404, 'not_found'],
      ['PUT', `/luma/generations/${TASK_ID}`, 405, 'method_not_allowed'],
      ['GET', `/luma/generations/${TASK_ID}/cancel`, 405, 'method_not_allowed'],
      ['DELETE', '/luma/generations', 405, 'method_not_allowed'],
      ['PUT', '/luma/uploads', 405, 'method_not_allowed'],
    ];
    for (const [method, path, status, code] of cases) {
      const response = await handleRequest(event(method, path, bearer), api);
      expect([method, path, response.statusCode, errorOf(response.body)]).toEqual([method, path, status, code]);
    }
  });

  it('refuses a callback_url from a key without a webhook secret with a 400 naming it, before anything is created', async () => {
    const { api } = deps();
    const post = { ...event('POST', '/luma/generations', { ...bearer, 'content-type': 'application/json' }), body: JSON.stringify({ user_prompt: 'a paper boat', callback_url: 'https://hooks.example.com/' }) };
    const response = await handleRequest(post, api);
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body).error.details).toEqual([{ field: 'callback_url', message: expect.stringMatching(/no webhook secret.*webhook-secret/) }]);
  });

  it('answers 404 for the deliveries of a missing task or a malformed id, and 405 for a wrong method on them', async () => {
    const { api } = deps();
    const cases: [string, string, number][] = [
      ['GET', `/luma/generations/${TASK_ID}/deliveries`, 404],
      ['GET', '/luma/generations/not-an-id/deliveries', 404],
      ['POST', `/luma/generations/not-an-id/deliveries/msg_x_1/retry`, 404],
      ['POST', `/luma/generations/${TASK_ID}/deliveries`, 405],
      ['GET', `/luma/generations/${TASK_ID}/deliveries/msg_${TASK_ID}_1/retry`, 405],
    ];
    api.deliveries = { ...api.deliveries, tasks: { get: async () => undefined } } as ApiDeps['deliveries'];
    for (const [method, path, status] of cases) {
      expect([method, path, (await handleRequest(event(method, path, bearer), api)).statusCode]).toEqual([method, path, status]);
    }
  });

  it('answers a bad list query with 400 and a line per parameter, after authenticating', async () => {
    const { api } = deps();
    const unauthenticated = await handleRequest(event('GET', '/luma/generations', {}, { limit: ['0'] }), api);
    expect(unauthenticated.statusCode).toBe(401);
    const response = await handleRequest(event('GET', '/luma/generations', bearer, { limit: ['0'], cursor: ['x'], state: ['done'] }), api);
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body).error).toMatchObject({
      code: 'invalid_request',
      details: [
        { field: 'limit', message: expect.stringMatching(/1 to 100/) },
        { field: 'cursor', message: expect.any(String) },
        { field: 'state', message: expect.any(String) },
      ],
    });
  });

  it('serves the public pages without a key: the playground at / and the OpenAPI document', async () => {
    const { api, touched } = deps();
    const page = await handleRequest(event('GET', '/'), api);
    expect([page.statusCode, page.headers['content-type']]).toEqual([200, 'text/html; charset=utf-8']);
    expect(page.headers['content-security-policy']).toContain('media-src https://bucket.example');
    const document = await handleRequest(event('GET', '/openapi.json'), api);
    expect([document.statusCode, JSON.parse(document.body).openapi]).toEqual([200, '3.1.0']);
    const posted = await handleRequest(event('POST', '/'), api);
    expect([posted.statusCode, errorOf(posted.body)]).toEqual([405, 'method_not_allowed']);
    expect(touched).toEqual([]);
  });

  it('answers a preflight from an allowed origin with 204, and puts CORS headers on its answers only', async () => {
    const { api } = deps();
    const preflight = await handleRequest(
      event('OPTIONS', '/luma/generations', { origin: 'https://app.example.com', 'access-control-request-method': 'POST' }),
      api,
    );
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('https://app.example.com');
    const other = await handleRequest(event('GET', '/luma/elsewhere', { origin: 'https://evil.example.com' }), api);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('maps the domain’s transition error to 409 at the edge, and hides any other fault behind 500', async () => {
    const refused = deps({ [TASK_ID]: new TransitionRefusedError('Task is completed; it cannot move to dreaming.') });
    const conflict = await handleRequest(event('GET', `/luma/generations/${TASK_ID}`, bearer), refused.api);
    expect([conflict.statusCode, errorOf(conflict.body)]).toEqual([409, 'invalid_transition']);
    const faulty = deps({ [TASK_ID]: new Error('socket hang up at 10.0.0.5') });
    const fault = await handleRequest(event('GET', `/luma/generations/${TASK_ID}`, bearer), faulty.api);
    expect([fault.statusCode, errorOf(fault.body)]).toEqual([500, 'internal']);
    expect(fault.body).not.toContain('10.0.0.5');
  });
});
