import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalGateway } from '../local/gateway.ts';
import { SeedClient } from '../test/support/client.ts';
const dataDir = mkdtempSync(join(tmpdir(), 'one-'));
const gateway = await startLocalGateway({
  dataDir, port: 0, apiKeys: ['alice-key-0123456789abcdef'], timeScale: 0.01,
  log: (l) => console.log('[gw]', l), functionLogs: (l) => console.log('[fn]', String(l).slice(0, 400)),
});
const c = new SeedClient(gateway.url, gateway.apiKeys[0]!);
const created = await c.create({ user_prompt: 'A flamingo in a pool' });
console.log('created', created.status, (created.body as any).id);
const done = await c.waitForTerminal((created.body as any).id, 60000);
console.log('final', done.state, done.failure_reason);
await gateway.close();
const { readFileSync } = await import('node:fs');
for (const e of JSON.parse(readFileSync(join(dataDir, 'executions.json'), 'utf8')).executions) console.log(e.name, e.status, e.error, e.cause?.slice(0, 600));
