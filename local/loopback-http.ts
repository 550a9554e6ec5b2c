/**
 * What every server of the local runtime does alike: listen on the loopback address only (nothing local may
 * be reachable from another host), close without keep-alive sockets holding it open, answer JSON.
 */
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on 127.0.0.1 (`port` 0 picks a free one); resolves with the server's base URL. */
export function listenOnLoopback(server: Server, port = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port }, () => {
      server.off('error', reject);
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    });
  });
}

/**
 * Stops accepting connections and closes the idle ones. Requests in flight may finish: for `graceMs` when
 * given, after which their connections are cut; otherwise for as long as they take.
 */
export function closeServer(server: Server, graceMs?: number): Promise<void> {
  server.closeIdleConnections();
  const cut = graceMs === undefined ? undefined : setTimeout(() => server.closeAllConnections(), graceMs);
  return new Promise((done) =>
    server.close(() => {
      clearTimeout(cut);
      done();
    }),
  );
}

/** Answers `payload` as JSON; `contentType` names the protocol's own type (AWS's JSON 1.0 and 1.1). */
export function sendJson(
  res: ServerResponse,
  status: number,
  payload: unknown,
  headers: Record<string, string> = {},
  contentType = 'application/json',
): void {
  const body = JSON.stringify(payload);
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}
