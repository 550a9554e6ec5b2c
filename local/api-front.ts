/**
 * Stands in for API Gateway (HTTP API, payload format 2.0): turns each HTTP request into the event the
 * API Lambda receives in AWS, and the Lambda's result back into the HTTP response. Like API Gateway it
 * refuses bodies over 10 MB itself and answers 503 when the integration fails.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

const API_GATEWAY_MAX_BODY = 10 * 1024 * 1024;

export type Invoke = (event: APIGatewayProxyEventV2) => Promise<unknown>;

export function createApiFront(invoke: Invoke, log: (line: string) => void): Server {
  return createServer((req, res) => {
    handle(req, res, invoke).catch((error: Error) => {
      log(`api: integration failed: ${error.name}: ${error.message}`);
      if (!res.headersSent) send(res, 503, JSON.stringify({ message: 'Service Unavailable' }));
      else res.destroy();
    });
  });
}

async function handle(req: IncomingMessage, res: ServerResponse, invoke: Invoke): Promise<void> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > API_GATEWAY_MAX_BODY) {
      // The rest of the body is never read, so this connection cannot carry another request: say so,
      // or the client sends its next one on it and waits for an answer that never comes.
      res.setHeader('connection', 'close');
      send(res, 413, JSON.stringify({ message: 'Request Entity Too Large' }));
      req.resume();
      return;
    }
    chunks.push(chunk as Buffer);
  }
  const result = (await invoke(toEvent(req, Buffer.concat(chunks)))) as APIGatewayProxyStructuredResultV2;
  const body = result.body ?? '';
  res.writeHead(result.statusCode ?? 200, result.headers as Record<string, string>);
  res.end(result.isBase64Encoded ? Buffer.from(body, 'base64') : body);
}

function toEvent(req: IncomingMessage, body: Buffer): APIGatewayProxyEventV2 {
  const { path, query } = requestTarget(req.url ?? '/');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const text = body.toString('utf8');
  // API Gateway base64-encodes bodies that are not valid text; mirror that so the handler sees the same.
  const isText = Buffer.from(text, 'utf8').equals(body);
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: query,
    headers,
    queryStringParameters: query ? Object.fromEntries(new URLSearchParams(query)) : undefined,
    body: body.length === 0 ? undefined : isText ? text : body.toString('base64'),
    isBase64Encoded: body.length > 0 && !isText,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: req.headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method: req.method ?? 'GET',
        path,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: req.headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
  };
}

/**
 * The path and query as the client sent them, which is what API Gateway passes on as `rawPath`. Not
 * resolved as a URL: that throws on a target such as `//[` (a 503 for a client's typo) and takes
 * `//host/luma/generations` for a host and the route. Absolute-form (`http://host/path`) keeps its path.
 */
function requestTarget(target: string): { path: string; query: string } {
  const originForm = /^[a-z][a-z0-9+.-]*:\/\//i.test(target) ? target.replace(/^[^:]+:\/\/[^/?]*/, '') : target;
  const queryAt = originForm.indexOf('?');
  const path = queryAt === -1 ? originForm : originForm.slice(0, queryAt);
  return { path: path || '/', query: queryAt === -1 ? '' : originForm.slice(queryAt + 1) };
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(body);
}
