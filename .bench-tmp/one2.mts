import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalGateway } from '../local/gateway.ts';
import { ApiTestClient as SeedClient } from '../test/support/client.ts';
const dataDir = mkdtempSync(join(tmpdir(), 'one-'));
const t0 = Date.now();
const gateway = await startLocalGateway({
  dataDir, port: 0, apiKeys: ['alice-key-0123456789abcdef'], timeScale: 0.2,
  simulator: { queuedSeconds: 10, dreamingSeconds: 170, otherClients: false },
  log: () => {}, functionLogs: (l) => { const s = String(l); if (/"msg":"(poll|upstream callback|copied)"/.test(s)) { const j = JSON.parse(s.slice(s.indexOf('{'))); console.log(((Date.parse(j.time) - t1) / 200).toFixed(1), j.msg, j.next ?? '', j.waitSeconds ?? '', j.hold ?? '', j.woke ?? '', j.acted ?? ''); } },
});
const c = new SeedClient(gateway.url, gateway.apiKeys[0]!);
const t1 = Date.now();
const created = await c.create({ user_prompt: 'A flamingo in a pool' });
const done = await c.waitForTerminal((created.body as any).id, 120000);
console.log('final', done.state, 'transitions', gateway.stepFunctions.transitions(gateway.stepFunctions.listExecutions()[0]!.executionArn));
await gateway.close();
