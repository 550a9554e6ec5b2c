/**
 * First contact, as a new user would make it: `LOCAL_API_KEY=dev,acc-key-beta npm start`, with keys of the
 * operator's own choosing. Both keys are served, each its own tenant, and neither is printed back.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killChildren, npmStart } from '../../scripts/chaos/npm-start.ts';
import { ApiTestClient } from '../support/client.ts';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'first-contact-'));
  dirs.push(dir);
  return dir;
};

afterAll(() => {
  killChildren();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('npm start with the operator’s own short keys', () => {
  it('serves both keys as separate tenants and prints neither', async () => {
    const dir = tempDir();
    const logFile = join(dir, 'npm-start.log');
    const gateway = await npmStart(
      { LOCAL_DATA_DIR: join(dir, 'data'), PORT: '0', LOCAL_TIME_SCALE: '0.01', LOCAL_API_KEY: 'dev,acc-key-beta' },
      logFile,
    );
    try {
      const dev = new ApiTestClient(gateway.url, 'dev');
      const beta = new ApiTestClient(gateway.url, 'acc-key-beta');
      const created = await dev.create({ user_prompt: 'A flamingo in a pool' });
      expect(created.status).toBe(200);
      expect((await beta.create({ user_prompt: 'A heron in a pond' })).status).toBe(200);
      // Each key its own owner: the other key cannot see the task.
      expect((await beta.get(created.body.id)).status).toBe(404);
      expect((await dev.waitForTerminal(created.body.id, 60_000)).state).toBe('completed');
    } finally {
      await gateway.stop('SIGTERM');
    }
    const output = readFileSync(logFile, 'utf8');
    expect(output).toContain('API key: d… (3 characters)');
    expect(output).toContain('API key: acc-… (12 characters)');
    expect(output).not.toContain('acc-key-beta');
  });

  it('refuses a key that is not visible ASCII, naming the setting', async () => {
    const dir = tempDir();
    await expect(npmStart({ LOCAL_DATA_DIR: join(dir, 'data'), PORT: '0', LOCAL_API_KEY: 'ok,has space' }, join(dir, 'npm-start.log'))).rejects.toThrow();
    expect(readFileSync(join(dir, 'npm-start.log'), 'utf8')).toContain('LOCAL_API_KEY: key 2 must be 1 to 256 visible ASCII characters');
  });
});
