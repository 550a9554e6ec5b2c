/**
 * `npm start` as a user runs it: a child process, its printed contract (the "Listening on" line and the
 * API key), the aggregator's request, a restart after a hard kill, and a clean stop on SIGTERM.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiTestClient } from '../support/client.ts';
import { eventually } from '../support/eventually.ts';
import { ROOMY_DEADLINE_SECONDS, TEST_TIME_SCALE } from '../support/time.ts';
import { groupAlive, killChildren, npmStart as startNpmStart, type NpmStart } from '../../scripts/chaos/npm-start.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const SAMPLE_MP4 = readFileSync(join(ROOT, 'local/assets/sample.mp4'));
/**
 * Each test's own limit: every wait inside is on an event (a printed line, an exit, a task's end), and this
 * covers them on a busy 2-core machine: a start synthesizes the app (tens of seconds there), and a task
 * interrupted mid-submit by a hard kill is taken up again only once its 60 s submit lease (real time) ends.
 */
const ONE_START_MS = 180_000;
const TWO_STARTS_AND_A_LEASE_MS = 400_000;
/** A task whose submit lease must run out first: the lease, then the reconciler and the generation. */
const AFTER_A_LEASE_MS = 150_000;

const dirs: string[] = [];

/** `npm start` in its own process group (scripts/chaos/npm-start.ts), its output in a log file of its own. */
function npmStart(env: Record<string, string>): Promise<NpmStart> {
  const withDefaults = {
    PORT: '0',
    LOCAL_TIME_SCALE: String(TEST_TIME_SCALE),
    // Only the deadline test shortens it: otherwise 18 s of real time, which a busy machine's restart exceeds.
    GENERATION_TIMEOUT_SECONDS: String(ROOMY_DEADLINE_SECONDS),
    ...env,
  };
  // The test's own limit bounds the start; the module's is not to fire first.
  return startNpmStart(withDefaults, join(tempDir(), 'npm-start.log'), { listenWithinMs: ONE_START_MS });
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'npm-start-'));
  dirs.push(dir);
  return dir;
}

afterAll(() => {
  killChildren();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('npm start', () => {
  it('serves the aggregator request end to end and stops cleanly on SIGTERM', { timeout: ONE_START_MS }, async () => {
    const gateway = await npmStart({ LOCAL_DATA_DIR: tempDir() });
    // The key it generated: `lvg_` and 256 random bits, as the README promises.
    expect(gateway.apiKey).toMatch(/^lvg_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(gateway.apiKey.slice('lvg_'.length), 'base64url')).toHaveLength(32);
    const client = new ApiTestClient(gateway.url, gateway.apiKey);
    const { status, body } = await client.create({
      user_prompt: 'Cinematic shot of a tranquil indoor pool room with a pink flamingo.',
      expand_prompt: true,
      image_url: 'https://img.upanh.tv/2025/05/23/b69ee84d-849d-48c0-863a-40b646190dd6.png',
    });
    expect(status).toBe(200);
    expect(body.state).toBe('pending'); // a poll may well come too late to see it: the answer shows it
    const done = await client.waitForTerminal(body.id);
    expect(done.state).toBe('completed');
    const video = Buffer.from(await (await fetch(done.video!.url)).arrayBuffer());
    expect(video.equals(SAMPLE_MP4)).toBe(true);
    expect(gateway.output()).toContain(`s3:ObjectCreated:Put s3://luma-gateway-videos/generations/${body.id}/video.mp4`);

    // What Ctrl-C or a process manager does: signal the whole process group.
    process.kill(-gateway.child.pid!, 'SIGTERM');
    await gateway.exited;
    await eventually(() => !groupAlive(gateway.child.pid!), 'every process of npm start to exit');
    expect(gateway.output()).toContain('SIGTERM: stopping');
    await expect(fetch(gateway.url)).rejects.toThrow();
    await expect(fetch(done.video!.url)).rejects.toThrow(); // the S3 emulator is gone too
  });

  it('finishes every in-flight task after a hard kill and a restart with the same data dir', { timeout: TWO_STARTS_AND_A_LEASE_MS }, async () => {
    const dataDir = tempDir();
    const first = await npmStart({ LOCAL_DATA_DIR: dataDir, LOCAL_API_KEY: 'restart-key-0123456789' });
    const client = new ApiTestClient(first.url, first.apiKey);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { status, body } = await client.create({ user_prompt: `Restart case ${i}` });
      expect(status).toBe(200);
      ids.push(body.id);
    }
    process.kill(-first.child.pid!, 'SIGKILL');
    await first.exited;

    const second = await npmStart({ LOCAL_DATA_DIR: dataDir, LOCAL_API_KEY: 'restart-key-0123456789' });
    const again = new ApiTestClient(second.url, second.apiKey);
    for (const id of ids) {
      expect(await again.waitForTerminal(id, AFTER_A_LEASE_MS)).toMatchObject({ state: 'completed', failure_code: null });
    }
    process.kill(-second.child.pid!, 'SIGTERM');
    await second.exited;
  });

  it('fails a generation that outlives its deadline with deadline_exceeded', { timeout: ONE_START_MS }, async () => {
    const gateway = await npmStart({ LOCAL_DATA_DIR: tempDir(), GENERATION_TIMEOUT_SECONDS: '150' });
    const client = new ApiTestClient(gateway.url, gateway.apiKey);
    const { body } = await client.create({ user_prompt: 'A very slow sunrise [sim:slow]' });
    const done = await client.waitForTerminal(body.id);
    expect(done).toMatchObject({ state: 'failed', failure_code: 'deadline_exceeded' });
    expect(done.failure_reason).toMatch(/did not finish/);
    process.kill(-gateway.child.pid!, 'SIGTERM');
    await gateway.exited;
  });
});
