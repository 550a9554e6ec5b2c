/**
 * The API function's edge: a REST API proxy event (payload format 1.0) becomes the request the routes read.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJsonBody, requestFromEvent } from '../../../functions/api/http.ts';

function event(overrides: Partial<APIGatewayProxyEvent> = {}): APIGatewayProxyEvent {
  return {
    resource: '/{proxy+}',
    path: '/luma/generations',
    httpMethod: 'POST',
    headers: {},
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: { proxy: 'luma/generations' },
    stageVariables: null,
    body: null,
    isBase64Encoded: false,
    requestContext: { requestId: 'req-1', path: '/prod/luma/generations', stage: 'prod' } as APIGatewayProxyEvent['requestContext'],
    ...overrides,
  };
}

describe('requestFromEvent', () => {
  it('takes the method, the path without the stage, and the request id', () => {
    const request = requestFromEvent(event({ httpMethod: 'GET', path: '/luma/generations/abc' }));
    expect(request).toMatchObject({ method: 'GET', path: '/luma/generations/abc', requestId: 'req-1' });
  });

  it('keeps the path as API Gateway passes it: percent-encoding and odd targets are not decoded or resolved', () => {
    for (const path of ['/luma/generations/..%2F..%2Fetc', '//[', '/luma/generations/%E0%A4%A', '/a b']) {
      expect(requestFromEvent(event({ path })).path).toBe(path);
    }
  });

  it('lower-cases header names, from the multi-value headers when there are any', () => {
    const request = requestFromEvent(
      event({
        headers: { Authorization: 'Bearer b', 'Content-Type': 'application/json' },
        multiValueHeaders: { Authorization: ['Bearer a', 'Bearer b'], 'Content-Type': ['application/json'] },
      }),
    );
    expect({ ...request.headers }).toEqual({ authorization: 'Bearer a, Bearer b', 'content-type': 'application/json' });
  });

  it('joins a header sent under names of different case, and falls back to the single-value headers', () => {
    expect({ ...requestFromEvent(event({ multiValueHeaders: { 'Idempotency-Key': ['a'], 'idempotency-key': ['b'] } })).headers }).toEqual({
      'idempotency-key': 'a, b',
    });
    expect({ ...requestFromEvent(event({ headers: { 'X-Thing': '1' }, multiValueHeaders: {} })).headers }).toEqual({ 'x-thing': '1' });
  });

  it('keeps every value of each query parameter, from the multi-value parameters when there are any', () => {
    const request = requestFromEvent(
      event({ queryStringParameters: { limit: '6', state: 'failed' }, multiValueQueryStringParameters: { limit: ['5', '6'], state: ['failed'] } }),
    );
    expect({ ...request.query }).toEqual({ limit: ['5', '6'], state: ['failed'] });
    expect({ ...requestFromEvent(event({ queryStringParameters: { cursor: 'abc' } })).query }).toEqual({ cursor: ['abc'] });
    expect({ ...requestFromEvent(event()).query }).toEqual({});
    const { query } = requestFromEvent(event({ multiValueQueryStringParameters: JSON.parse('{"__proto__":["x"]}') }));
    expect(Object.getPrototypeOf(query)).toBeNull();
    expect(query['__proto__']).toEqual(['x']);
  });

  it('treats a header named __proto__ as a header', () => {
    const multiValueHeaders = JSON.parse('{"__proto__":["polluted"],"constructor":["x"]}');
    const { headers } = requestFromEvent(event({ multiValueHeaders }));
    expect(Object.getPrototypeOf(headers)).toBeNull();
    expect(headers['__proto__']).toBe('polluted');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('reads the body as UTF-8 text, or as Base64 when the event says so; none is empty', () => {
    expect(requestFromEvent(event({ body: '{"a":"é"}' })).body.equals(Buffer.from('{"a":"é"}', 'utf8'))).toBe(true);
    const bytes = Buffer.from([0xff, 0x00, 0x7b]);
    expect(requestFromEvent(event({ body: bytes.toString('base64'), isBase64Encoded: true })).body.equals(bytes)).toBe(true);
    expect(requestFromEvent(event({ body: null })).body.length).toBe(0);
  });

  it('the JSON body checks read the adapted request: 415, 400, then the value', () => {
    const post = (headers: Record<string, string[]>, body: string | null) => () => parseJsonBody(requestFromEvent(event({ multiValueHeaders: headers, body })));
    expect(post({ 'Content-Type': ['text/plain'] }, 'x')).toThrow(expect.objectContaining({ status: 415 }));
    expect(post({ 'Content-Type': ['application/json'] }, null)).toThrow(expect.objectContaining({ status: 400 }));
    expect(post({ 'Content-Type': ['application/json; charset=utf-8'] }, '{"user_prompt":"x"}')()).toEqual({ user_prompt: 'x' });
  });

  it('never throws on any headers, path or body an event can carry', () => {
    const text = fc.string({ maxLength: 40 });
    fc.assert(
      fc.property(text, fc.dictionary(text, fc.array(text, { maxLength: 3 })), fc.option(text), fc.boolean(), (path, multiValueHeaders, body, isBase64Encoded) => {
        const request = requestFromEvent(event({ path, multiValueHeaders, body, isBase64Encoded }));
        expect(request.path).toBe(path);
        for (const name of Object.keys(request.headers)) expect(name).toBe(name.toLowerCase());
      }),
    );
  });
});
