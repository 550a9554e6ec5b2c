/**
 * Stands in for what sits in front of the API function in AWS: the AWS WAF web ACL (local/web-acl.ts), then
 * API Gateway's REST API with its Lambda proxy integration on `/` and `/{proxy+}`. Each HTTP request becomes
 * the event (payload format 1.0) the API Lambda receives in AWS, and the Lambda's result the HTTP response.
 *
 * What API Gateway answers itself, it answers here the same way, as the REST API's gateway responses in the
 * template say (infra/constructs/gateway-responses.ts; API Gateway's default `{"message": …}` for a type
 * that is not customised): THROTTLED (429) when the stage's throttle is exhausted, INTEGRATION_TIMEOUT (504)
 * when the integration takes longer than its timeout, INTEGRATION_FAILURE (502) when the function fails or
 * returns something that is not a proxy result, and REQUEST_TOO_LARGE (413) when Lambda refuses the
 * invocation as too large (Lambda's own 6 MB limit, which this front leaves to the function host). A body
 * over 10 MiB is refused before any of that, with API Gateway's text, which no gateway response changes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { BlockResponse, LocalWebAcl } from './web-acl.ts';
import { isBinaryMediaType, renderGatewayResponse, TokenBucket, type GatewayAnswer, type RestApiSettings } from './rest-api-settings.ts';

/** API Gateway's payload limit. */
export const API_GATEWAY_MAX_BODY = 10 * 1024 * 1024;

export type Invoke = (event: APIGatewayProxyEvent) => Promise<unknown>;

export interface ApiFrontOptions extends RestApiSettings {
  webAcl: LocalWebAcl;
  /** The throttle's clock, in milliseconds. @default performance.now */
  now?: () => number;
}

/** API Gateway's own answers, as its default gateway responses word them. */
export const GATEWAY_ANSWERS = {
  throttled: { type: 'THROTTLED', status: 429, message: 'Too Many Requests' },
  lambdaRequestTooLarge: { type: 'REQUEST_TOO_LARGE', status: 413, message: 'Request Too Long' },
  integrationTimeout: { type: 'INTEGRATION_TIMEOUT', status: 504, message: 'Endpoint request timed out' },
  integrationFailure: { type: 'INTEGRATION_FAILURE', status: 502, message: 'Internal server error' },
} as const satisfies Record<string, GatewayAnswer>;

export function createApiFront(invoke: Invoke, log: (line: string) => void, options: ApiFrontOptions): Server {
  const throttle = new TokenBucket(options.throttle, options.now ?? (() => performance.now()));
  return createServer((req, res) => {
    const requestId = randomUUID();
    handle(req, res, requestId, invoke, options, throttle, log).catch((error: Error) => {
      log(`api: integration failed: ${error.name}: ${error.message}`);
      if (!res.headersSent) sendResponse(res, renderGatewayResponse(GATEWAY_ANSWERS.integrationFailure, requestId, options.gatewayResponses));
      else res.destroy();
    });
  });
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
  invoke: Invoke,
  options: ApiFrontOptions,
  throttle: TokenBucket,
  log: (line: string) => void,
): Promise<void> {
  const headers = receivedHeaders(req);
  const sourceIp = req.socket.remoteAddress ?? '127.0.0.1';
  // The web ACL sees the request first: a client over its limit costs neither the stage's throttle nor an invocation.
  const blocked = options.webAcl.check({ sourceIp, headers: joinedValues(headers) });
  if (blocked) return refuseUnread(req, res, blocked);
  const gatewayAnswer = (answer: GatewayAnswer) => renderGatewayResponse(answer, requestId, options.gatewayResponses);
  if (!throttle.take()) return refuseUnread(req, res, gatewayAnswer(GATEWAY_ANSWERS.throttled));

  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > API_GATEWAY_MAX_BODY) {
      // What API Gateway was seen to answer (a capture published in koki-develop/lgtm-generator#10): not JSON,
      // and not a gateway response: its REQUEST_TOO_LARGE customisation does not apply here.
      return refuseUnread(req, res, {
        status: 413,
        headers: { 'content-type': 'text; charset=utf-8' },
        body: `HTTP content length exceeded ${API_GATEWAY_MAX_BODY} bytes.`,
      });
    }
    chunks.push(chunk as Buffer);
  }
  const binary = isBinaryMediaType(headers.get('content-type')?.values.at(-1), options.binaryMediaTypes ?? []);
  const event = toEvent(req, headers, sourceIp, Buffer.concat(chunks), options.stageName, binary, requestId);
  let result: unknown;
  try {
    result = await withTimeout(invoke(event), options.integrationTimeoutMs);
  } catch (error) {
    const { name, message } = error as Error;
    if (name === TIMED_OUT) return sendResponse(res, gatewayAnswer(GATEWAY_ANSWERS.integrationTimeout));
    log(`api: integration failed: ${name}: ${message}`);
    // Lambda refused the event itself (Invoke's 413): the function never ran.
    const refusedAsTooLarge = (error as { statusCode?: number }).statusCode === 413 || /RequestEntityTooLarge|RequestTooLarge/i.test(name);
    if (refusedAsTooLarge) return sendResponse(res, gatewayAnswer(GATEWAY_ANSWERS.lambdaRequestTooLarge));
    return sendResponse(res, gatewayAnswer(GATEWAY_ANSWERS.integrationFailure));
  }
  if (!isProxyResult(result)) {
    log('api: the function returned something that is not a proxy result');
    return sendResponse(res, gatewayAnswer(GATEWAY_ANSWERS.integrationFailure));
  }
  const responseHeaders: Record<string, string | string[]> = {};
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) responseHeaders[name] = values.map(String);
  for (const [name, value] of Object.entries(result.headers ?? {})) responseHeaders[name] = String(value);
  res.writeHead(result.statusCode, responseHeaders);
  res.end(result.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64') : (result.body ?? ''));
}

const TIMED_OUT = 'IntegrationTimeout';

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms} ms`), { name: TIMED_OUT })), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function isProxyResult(value: unknown): value is APIGatewayProxyResult {
  const result = value as APIGatewayProxyResult | null;
  return (
    typeof result === 'object' &&
    result !== null &&
    Number.isInteger(result.statusCode) &&
    (result.body === undefined || result.body === null || typeof result.body === 'string')
  );
}

/** Each header name as first sent, with every value it was sent with (names compared without case). */
function receivedHeaders(req: IncomingMessage): Map<string, { name: string; values: string[] }> {
  const headers = new Map<string, { name: string; values: string[] }>();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    const entry = headers.get(name.toLowerCase());
    if (entry) entry.values.push(req.rawHeaders[i + 1]!);
    else headers.set(name.toLowerCase(), { name, values: [req.rawHeaders[i + 1]!] });
  }
  return headers;
}

function joinedValues(headers: Map<string, { values: string[] }>): Record<string, string> {
  const joined: Record<string, string> = Object.create(null);
  for (const [name, { values }] of headers) joined[name] = values.join(', ');
  return joined;
}

/** The event API Gateway's REST API sends a Lambda proxy integration (payload format 1.0). */
function toEvent(
  req: IncomingMessage,
  received: Map<string, { name: string; values: string[] }>,
  sourceIp: string,
  body: Buffer,
  stage: string,
  binary: boolean,
  requestId: string,
): APIGatewayProxyEvent {
  const { path, query } = requestTarget(req.url ?? '/');
  // No prototypes: a header or parameter named `__proto__` is one like any other.
  const headers: Record<string, string> = Object.create(null);
  const multiValueHeaders: Record<string, string[]> = Object.create(null);
  for (const { name, values } of received.values()) {
    headers[name] = values.at(-1)!;
    multiValueHeaders[name] = values;
  }
  const parameters = queryParameters(query);
  const resource = path === '/' ? '/' : '/{proxy+}';
  const method = req.method ?? 'GET';
  const now = new Date();
  return {
    resource,
    path,
    httpMethod: method,
    headers,
    multiValueHeaders,
    queryStringParameters: parameters && lastValues(parameters),
    multiValueQueryStringParameters: parameters,
    pathParameters: resource === '/' ? null : { proxy: decoded(path.slice(1)) },
    stageVariables: null,
    // A body of a binary media type comes Base64-encoded, byte for byte; any other as text, where bytes that
    // are not UTF-8 become U+FFFD.
    body: body.length === 0 ? null : binary ? body.toString('base64') : body.toString('utf8'),
    isBase64Encoded: binary && body.length > 0,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: undefined,
      domainName: req.headers.host ?? 'localhost',
      domainPrefix: 'local',
      extendedRequestId: requestId,
      httpMethod: method,
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp,
        user: null,
        userAgent: req.headers['user-agent'] ?? null,
        userArn: null,
      },
      path: `/${stage}${path}`,
      protocol: `HTTP/${req.httpVersion}`,
      requestId,
      requestTime: now.toUTCString(),
      requestTimeEpoch: now.getTime(),
      resourceId: 'local',
      resourcePath: resource,
      stage,
    },
  };
}

/**
 * The path and query as the client sent them: a REST API passes the path still percent-encoded (`event.path`),
 * and decodes only path parameters. Not resolved as a URL: that throws on a target such as `//[` and takes
 * `//host/luma/generations` for a host and the route. Absolute-form (`http://host/path`) keeps its path.
 */
function requestTarget(target: string): { path: string; query: string } {
  const originForm = /^[a-z][a-z0-9+.-]*:\/\//i.test(target) ? target.replace(/^[^:]+:\/\/[^/?]*/, '') : target;
  const queryAt = originForm.indexOf('?');
  const path = queryAt === -1 ? originForm : originForm.slice(0, queryAt);
  return { path: path || '/', query: queryAt === -1 ? '' : originForm.slice(queryAt + 1) };
}

/** Decoded query parameters, every value of each; null when there are none (as API Gateway sends them). */
function queryParameters(query: string): Record<string, string[]> | null {
  const parameters: Record<string, string[]> = Object.create(null);
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const at = pair.indexOf('=');
    const name = decoded(at === -1 ? pair : pair.slice(0, at));
    const value = at === -1 ? '' : decoded(pair.slice(at + 1));
    (Object.hasOwn(parameters, name) ? parameters[name]! : (parameters[name] = [])).push(value);
  }
  return Object.keys(parameters).length === 0 ? null : parameters;
}

function lastValues(parameters: Record<string, string[]>): Record<string, string> {
  const last: Record<string, string> = Object.create(null);
  for (const [name, values] of Object.entries(parameters)) last[name] = values.at(-1)!;
  return last;
}

function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // malformed percent-encoding is passed on as it came
  }
}

/**
 * Answers before the body is read. The rest of the body is then never read, so the connection cannot carry
 * another request: say so, or the client sends its next one on it and waits for an answer that never comes.
 */
function refuseUnread(req: IncomingMessage, res: ServerResponse, response: BlockResponse): void {
  if (!req.complete) res.setHeader('connection', 'close');
  sendResponse(res, response);
  req.resume();
}

function sendResponse(res: ServerResponse, response: BlockResponse): void {
  res.writeHead(response.status, response.headers);
  res.end(response.body);
}
