/**
 * The local API Gateway stand-in over real HTTP, with a stub in place of the API function: the REST API
 * proxy events it sends, how it maps results, and what it answers itself (web ACL blocks, throttling, the
 * payload limit, the integration timeout, a failed function).
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { request as httpRequest } from 'node:http';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { Template as CdkTemplate } from 'aws-cdk-lib/assertions';
import { API_GATEWAY_MAX_BODY, createApiFront, type ApiFrontOptions, type Invoke } from '../../local/api-front.ts';
import { LocalWebAcl, type RateRule } from '../../local/web-acl.ts';
import { restApiSettingsFromTemplate, type RestApiSettings } from '../../local/rest-api-settings.ts';
import { buildApp } from '../../infra/app.ts';
import type { Template } from '../../local/cloudformation-intrinsics.ts';
import { LAMBDA_SYNC_PAYLOAD_BYTES, MAX_BODY_BYTES, base64Length } from '../../functions/commons/domain/payload-limits.ts';
import { jsonBytes } from '../../local/aws-limits.ts';
import { LambdaInvocationError } from '../../local/lambda-host.ts';
import { awsLimitErrors } from '../../local/aws-limits.ts';

/** The REST API's settings as the stack synthesizes them (binary media types, gateway responses). */
let synthesized: RestApiSettings | undefined;
function deployedSettings(): RestApiSettings {
  if (!synthesized) {
    const { stack } = buildApp({ context: { 'aws:cdk:bundling-stacks': [] }, nag: false });
    synthesized = restApiSettingsFromTemplate(CdkTemplate.fromStack(stack).toJSON() as Template);
  }
  return synthesized;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  }
});

const KEY_RULE: RateRule = {
  name: 'PerKeyRate',
  priority: 0,
  limit: 2,
  windowMs: 60_000,
  key: { kind: 'header', name: 'authorization' },
  response: { status: 429, headers: { 'content-type': 'application/json', 'retry-after': '60' }, body: '{"error":{"code":"rate_limited","message":"slow down"}}' },
};

interface Front {
  url: string;
  events: APIGatewayProxyEvent[];
  clock: { now: number };
}

async function start(invoke: Invoke = async () => ({ statusCode: 200, headers: {}, body: 'ok' }), options: Partial<ApiFrontOptions> = {}): Promise<Front> {
  const events: APIGatewayProxyEvent[] = [];
  const clock = { now: 0 };
  const server = createApiFront(
    (event) => {
      events.push(event);
      return invoke(event);
    },
    () => undefined,
    {
      stageName: 'prod',
      throttle: { rateLimit: 1000, burstLimit: 1000 },
      integrationTimeoutMs: 29_000,
      webAcl: new LocalWebAcl([], () => clock.now),
      now: () => clock.now,
      ...options,
    },
  );
  servers.push(server);
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, events, clock };
}

/** A request through node:http, which sends the target and headers exactly as given. */
function send(url: string, method: string, target: string, headers: [string, string][] = [], body?: Buffer | string) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const rawHeaders = [['Host', `${hostname}:${port}`], ...headers].flat();
    const request = httpRequest({ hostname, port, method, path: target, headers: rawHeaders as unknown as Record<string, string> }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

describe('the event', () => {
  it('is a REST API proxy event: the path as sent without the stage, the decoded proxy parameter, the stage in the context', async () => {
    const front = await start();
    await send(
      front.url,
      'POST',
      '/luma/generations/abc%2Fdef?x=1&x=2&y=%20&__proto__=z',
      [
        ['Authorization', 'Bearer k'],
        ['X-Multi', 'one'],
        ['x-multi', 'two'],
        ['Content-Type', 'application/json'],
      ],
      '{"a":1}',
    );
    const [event] = front.events;
    expect(event).toMatchObject({
      resource: '/{proxy+}',
      path: '/luma/generations/abc%2Fdef',
      httpMethod: 'POST',
      pathParameters: { proxy: 'luma/generations/abc/def' },
      stageVariables: null,
      body: '{"a":1}',
      isBase64Encoded: false,
      requestContext: { stage: 'prod', path: '/prod/luma/generations/abc%2Fdef', resourcePath: '/{proxy+}', httpMethod: 'POST', identity: { sourceIp: '127.0.0.1' } },
    });
    expect(event!.requestContext.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect({ ...event!.headers }).toMatchObject({ Authorization: 'Bearer k', 'X-Multi': 'two', 'Content-Type': 'application/json' });
    expect({ ...event!.multiValueHeaders }).toMatchObject({ 'X-Multi': ['one', 'two'] });
    expect({ ...event!.multiValueQueryStringParameters }).toEqual({ x: ['1', '2'], y: [' '], ['__proto__']: ['z'] });
    expect({ ...event!.queryStringParameters }).toEqual({ x: '2', y: ' ', ['__proto__']: 'z' });
  });

  it('for the root, has resource / and no path parameters; without a query or body, nulls', async () => {
    const front = await start();
    await send(front.url, 'GET', '/');
    expect(front.events[0]).toMatchObject({ resource: '/', path: '/', pathParameters: null, queryStringParameters: null, body: null });
  });

  it('with the stack’s binary media types (*/*), carries every body Base64-encoded, byte for byte', async () => {
    const { binaryMediaTypes } = deployedSettings();
    const front = await start(undefined, { binaryMediaTypes });
    const bytes = Buffer.from([0x7b, 0xc0, 0xaf, 0x00, 0x22, 0x7d]);
    await send(front.url, 'POST', '/x', [['Content-Type', 'application/json']], bytes);
    await send(front.url, 'POST', '/x', [], bytes);
    await send(front.url, 'GET', '/x');
    expect(front.events.map((e) => [e.isBase64Encoded, e.body])).toEqual([
      [true, bytes.toString('base64')],
      [true, bytes.toString('base64')],
      [false, null],
    ]);
  });

  it('around the largest body the API takes, stays within Lambda’s 6 MB however large the headers and URL', async () => {
    const { binaryMediaTypes } = deployedSettings();
    let largest = 0;
    const front = await start(async (event) => {
      largest = Math.max(largest, jsonBytes(event));
      return { statusCode: 200, body: '' };
    }, { binaryMediaTypes });
    // What escapes worst in JSON (a quote: 2 bytes; a control character percent-encoded in the URL: 6),
    // filling the head up to what Node's parser takes (16 KiB; API Gateway takes 10,240 bytes of header values).
    const headers: [string, string][] = Array.from({ length: 12 }, (_, i) => [`x-quoted-${i}`, '"'.repeat(500)]);
    const target = `/luma/generations/${'%01'.repeat(300)}?${Array.from({ length: 100 }, (_, i) => `q${i}=%01%01`).join('&')}`;
    const answer = await send(front.url, 'POST', target, [['Content-Type', 'application/json'], ...headers], Buffer.alloc(MAX_BODY_BYTES, 0x01));
    expect(answer.status).toBe(200);
    // The event carried all of it: the body Base64-encoded and each quoted header escaped (1,000 bytes each).
    expect(largest).toBeGreaterThan(base64Length(MAX_BODY_BYTES) + headers.length * 1000);
    expect(largest).toBeLessThanOrEqual(LAMBDA_SYNC_PAYLOAD_BYTES);
  });

  it('keeps odd targets as they came, and passes a body that is not UTF-8 as text (no binary media types)', async () => {
    const front = await start();
    await send(front.url, 'GET', '//[');
    await send(front.url, 'POST', '/x', [], Buffer.from([0x7b, 0xc0, 0xaf, 0x7d]));
    expect(front.events.map((e) => e.path)).toEqual(['//[', '/x']);
    expect(front.events[1]).toMatchObject({ body: '{\ufffd\ufffd}', isBase64Encoded: false });
  });
});

describe('the answer', () => {
  it('is the function’s result: status, headers, and a Base64 body decoded', async () => {
    const front = await start(async () => ({ statusCode: 201, headers: { 'x-one': '1' }, multiValueHeaders: { 'x-two': ['a', 'b'] }, body: Buffer.from('hi').toString('base64'), isBase64Encoded: true }));
    const answer = await send(front.url, 'GET', '/a');
    expect(answer.status).toBe(201);
    expect(answer.headers['x-one']).toBe('1');
    expect(answer.headers['x-two']).toBe('a, b');
    expect(answer.body.toString()).toBe('hi');
  });

  const tooLarge = async () => Promise.reject(LambdaInvocationError.of(awsLimitErrors.lambdaRequestTooLarge(7_000_000), 413));
  it.each([
    ['a function that fails', async () => Promise.reject(Object.assign(new Error('boom'), { name: 'Runtime.ExitError' })), 502, 'Internal server error'],
    ['a result that is not a proxy result', async () => ({ status: 200 }), 502, 'Internal server error'],
    ['Lambda refusing the event as too large', tooLarge, 413, 'Request Too Long'],
  ])('without gateway responses, is API Gateway’s default for %s', async (_what, invoke, status, message) => {
    const front = await start(invoke as Invoke);
    const answer = await send(front.url, 'GET', '/a');
    expect(answer.status).toBe(status);
    expect(JSON.parse(answer.body.toString())).toEqual({ message });
  });

  it('is 504 when the function takes longer than the integration timeout', async () => {
    const front = await start(() => new Promise(() => undefined), { integrationTimeoutMs: 20 });
    const answer = await send(front.url, 'GET', '/a');
    expect(answer.status).toBe(504);
    expect(JSON.parse(answer.body.toString())).toEqual({ message: 'Endpoint request timed out' });
  });

  it.each([
    ['a function that fails', async () => Promise.reject(Object.assign(new Error('boom'), { name: 'Runtime.ExitError' })), {}, 502, 'internal'],
    ['a result that is not a proxy result', async () => ({ status: 200 }), {}, 502, 'internal'],
    ['Lambda refusing the event as too large', tooLarge, {}, 413, 'payload_too_large'],
    ['a function slower than the integration timeout', () => new Promise(() => undefined), { integrationTimeoutMs: 20 }, 504, 'gateway_timeout'],
  ])('with the stack’s gateway responses, is in the API’s error shape for %s', async (_what, invoke, options, status, code) => {
    const front = await start(invoke as Invoke, { gatewayResponses: deployedSettings().gatewayResponses, ...options });
    const answer = await send(front.url, 'GET', '/a');
    expect(answer.status).toBe(status);
    expect(answer.headers['content-type']).toBe('application/json');
    const body = JSON.parse(answer.body.toString());
    expect(body).toEqual({ error: { code, message: expect.any(String), details: { request_id: expect.stringMatching(/^[0-9a-f-]{36}$/) } } });
    if (code === 'payload_too_large') expect(body.error.message).toContain(`at most ${MAX_BODY_BYTES} bytes`);
  });
});

describe('what the front answers before the function', () => {
  it('413 for a body over 10 MiB, closing the connection, without invoking', async () => {
    const front = await start();
    const answer = await send(front.url, 'POST', '/luma/generations', [], Buffer.alloc(API_GATEWAY_MAX_BODY + 1, 0x20));
    expect(answer.status).toBe(413);
    expect(answer.body.toString()).toBe('HTTP content length exceeded 10485760 bytes.');
    expect(answer.headers.connection).toBe('close');
    expect(front.events).toHaveLength(0);
  });

  it('the stack’s THROTTLED response: 429 in the API’s error shape, with Retry-After', async () => {
    const front = await start(undefined, { throttle: { rateLimit: 1, burstLimit: 1 }, gatewayResponses: deployedSettings().gatewayResponses });
    await send(front.url, 'GET', '/a');
    const answer = await send(front.url, 'GET', '/a');
    expect(answer.status).toBe(429);
    expect(answer.headers['retry-after']).toBe('1');
    expect(JSON.parse(answer.body.toString()).error.code).toBe('rate_limited');
  });

  it('the body over 10 MiB keeps API Gateway’s text even with the stack’s gateway responses (it is not one)', async () => {
    const front = await start(undefined, { gatewayResponses: deployedSettings().gatewayResponses });
    const answer = await send(front.url, 'POST', '/luma/generations', [], Buffer.alloc(API_GATEWAY_MAX_BODY + 1, 0x20));
    expect(answer.status).toBe(413);
    expect(answer.body.toString()).toBe('HTTP content length exceeded 10485760 bytes.');
  });

  it('429 from the stage’s throttle once the burst is spent, until the rate refills it', async () => {
    const front = await start(undefined, { throttle: { rateLimit: 1, burstLimit: 2 } });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await send(front.url, 'GET', '/a')).status);
    expect(statuses).toEqual([200, 200, 429]);
    front.clock.now = 1000;
    expect((await send(front.url, 'GET', '/a')).status).toBe(200);
    expect(front.events).toHaveLength(3);
  });

  it('the web ACL’s custom response for a blocked client, counted before the throttle and without invoking', async () => {
    const clock = { now: 0 };
    const front = await start(undefined, { webAcl: new LocalWebAcl([KEY_RULE], () => clock.now), throttle: { rateLimit: 1, burstLimit: 3 } });
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await send(front.url, 'GET', '/a', [['Authorization', 'Bearer same']]));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 429, 429]);
    expect(JSON.parse(answers[2]!.body.toString())).toEqual({ error: { code: 'rate_limited', message: 'slow down' } });
    expect(answers[2]!.headers['retry-after']).toBe('60');
    expect(answers[2]!.headers['content-type']).toBe('application/json');
    // The blocked requests took nothing from the throttle: another key still has the burst's last request.
    expect((await send(front.url, 'GET', '/a', [['Authorization', 'Bearer other']])).status).toBe(200);
    expect(front.events).toHaveLength(3);
  });
});
