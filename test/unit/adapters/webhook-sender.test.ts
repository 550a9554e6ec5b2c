/**
 * The webhook sender against real receivers on 127.0.0.1: what it sends, what it does not follow, its
 * deadline, one connection per attempt, and the deployed policy's refusals, each checked against a canary
 * that counts every connection it gets (a refused attempt must not open one). Name resolution is stood in
 * for by a resolver, so a "public" name can be made to answer with a private address.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { GuardedWebhookSender } from '../../../functions/commons/adapters/webhook-sender.ts';
import type { Resolver } from '../../../functions/commons/adapters/public-address-lookup.ts';
import type { AttemptOutcome } from '../../../functions/commons/domain/webhook-delivery.ts';
import { DEPLOYED_CALLBACK_POLICY } from '../../../functions/commons/policy/callback-policy.ts';

const LOCAL = { allowLoopback: true };

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A receiver that records each request and counts the connections it accepts. */
class Receiver {
  readonly received: Received[] = [];
  connections = 0;
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(204).end()): Promise<Receiver> {
    let receiver: Receiver;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        receiver.received.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        answer(req, res);
      });
    });
    server.on('connection', () => receiver.connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    receiver = new Receiver(server, (server.address() as AddressInfo).port);
    return receiver;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const opened: Receiver[] = [];
async function receiver(answer?: Parameters<typeof Receiver.start>[0]): Promise<Receiver> {
  const started = await Receiver.start(answer);
  opened.push(started);
  return started;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((one) => one.close()));
});

/** The attempt's error, or undefined for an answer. */
const errorOf = (outcome: AttemptOutcome) => ('error' in outcome ? outcome.error : undefined);

const request = (url: string, timeoutMs = 5_000) => ({
  url,
  headers: { 'content-type': 'application/json', 'webhook-id': 'msg_1' },
  body: JSON.stringify({ type: 'generation.completed', data: { id: 'é' } }),
  timeoutMs,
});

/** A resolver that answers every name with `addresses`. */
const answering =
  (addresses: string[]): Resolver =>
  (_hostname, _options, callback) =>
    callback(
      null,
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
    );

describe('GuardedWebhookSender', () => {
  it('POSTs the body with its headers and its byte length, and answers with the receiver’s status', async () => {
    const hook = await receiver((_req, res) => res.writeHead(503).end('busy'));
    const outcome = await new GuardedWebhookSender(LOCAL).send(request(`http://127.0.0.1:${hook.port}/hooks?x=1`));
    expect(outcome).toEqual({ statusCode: 503, latencyMs: expect.any(Number) });
    expect(hook.received).toEqual([
      {
        method: 'POST',
        url: '/hooks?x=1',
        headers: expect.objectContaining({ 'content-type': 'application/json', 'webhook-id': 'msg_1', 'content-length': String(Buffer.byteLength(request('').body)) }),
        body: request('').body,
      },
    ]);
  });

  it('does not follow a redirect: the 3xx is the outcome, and its target is never asked', async () => {
    const target = await receiver();
    const hook = await receiver((_req, res) => res.writeHead(307, { location: `http://127.0.0.1:${target.port}/elsewhere` }).end());
    expect(await new GuardedWebhookSender(LOCAL).send(request(`http://127.0.0.1:${hook.port}/`))).toMatchObject({ statusCode: 307 });
    expect(target.connections).toBe(0);
  });

  it('gives up at the deadline on a receiver that never answers', async () => {
    const hook = await receiver(() => undefined);
    const outcome = await new GuardedWebhookSender(LOCAL).send(request(`http://127.0.0.1:${hook.port}/`, 200));
    expect(outcome).toEqual({ error: 'timed out after 0.2 s', latencyMs: expect.any(Number) });
    expect(hook.received).toHaveLength(1);
  });

  it('opens a connection for each attempt, though the receiver keeps connections alive', async () => {
    const hook = await receiver((_req, res) => res.writeHead(200, { connection: 'keep-alive' }).end('ok'));
    const sender = new GuardedWebhookSender(LOCAL);
    for (let attempt = 0; attempt < 3; attempt++) expect(await sender.send(request(`http://127.0.0.1:${hook.port}/`))).toMatchObject({ statusCode: 200 });
    expect(hook.connections).toBe(3);
  });

  it('reports a closed port as the connection error', async () => {
    const hook = await receiver();
    const port = hook.port;
    await hook.close();
    const outcome = await new GuardedWebhookSender(LOCAL).send(request(`http://127.0.0.1:${port}/`));
    expect(errorOf(outcome)).toMatch(/ECONNREFUSED/);
  });

  describe('with the deployed policy, never connects to a non-public address', () => {
    it.each([
      ['a loopback literal', (port: number) => `https://127.0.0.1:${port}/`, /^refused to connect to 127\.0\.0\.1:\d+: 127\.0\.0\.1 is a loopback address/],
      ['an IPv6 loopback literal', (port: number) => `https://[::1]:${port}/`, /^refused to connect to \[::1\]:\d+: ::1 is a loopback address/],
    ])('%s', async (_case, url, message) => {
      const canary = await receiver();
      const outcome = await new GuardedWebhookSender(DEPLOYED_CALLBACK_POLICY).send(request(url(canary.port)));
      expect(errorOf(outcome)).toMatch(message);
      expect(canary.connections).toBe(0);
    });

    it.each([
      ['loopback', ['127.0.0.1']],
      ['an IPv4-mapped loopback address', ['::ffff:127.0.0.1']],
      ['a public address and a private one', ['93.184.216.34', '10.0.0.7']],
    ])('a name whose DNS answer holds %s', async (_case, addresses) => {
      const canary = await receiver();
      const sender = new GuardedWebhookSender(DEPLOYED_CALLBACK_POLICY, { resolve: answering(addresses) });
      const outcome = await sender.send(request(`https://hooks.rebind.example:${canary.port}/`));
      expect(errorOf(outcome)).toMatch(/^refused to connect to hooks\.rebind\.example(:\d+)?: it resolves to a non-public address/);
      expect(canary.connections).toBe(0);
    });

    it('the local policy still refuses a private address that is not loopback', async () => {
      const sender = new GuardedWebhookSender(LOCAL, { resolve: answering(['192.168.1.20']) });
      expect(errorOf(await sender.send(request('http://hooks.example/')))).toMatch(/it resolves to a non-public address/);
    });
  });
});
