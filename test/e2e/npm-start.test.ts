/**
 * `npm start` as a user runs it: a child process, its printed contract (the "Listening on" line and the
 * API key), the seed's request, a restart after a hard kill, and a clean stop on SIGTERM.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SeedClient } from '../support/client.ts';
import { eventually } from '../support/eventually.ts';
import { ROOMY_DEADLINE_SECONDS, TEST_TIME_SCALE } from '../support/time.ts';
import { groupAlive } from '../../scripts/chaos.ts';

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

interface Running {
  child: ChildProcess;
  url: string;
  apiKey: string;
  output: () => string;
}

const started: ChildProcess[] = [];
const dirs: string[] = [];

async function npmStart(env: Record<string, string>): Promise<Running> {
  const child = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: '0',
      LOCAL_TIME_SCALE: String(TEST_TIME_SCALE),
      // Only the deadline test shortens it: otherwise 18 s of real time, which a busy machine's restart exceeds.
      GENERATION_TIMEOUT_SECONDS: String(ROOMY_DEADLINE_SECONDS),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so a hard kill takes npm, tsx and node together
  });
  started.push(child);
  let output = '';
  // Resolves on the output that says it listens (the API key is printed before it); fails if it exits first.
  const url = await new Promise<string>((resolve, reject) => {
    const collect = (chunk: Buffer) => {
      output += chunk;
      const listening = /Listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
      if (listening) resolve(listening);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.once('exit', (code, signal) => reject(new Error(`npm start exited (${code ?? signal}) before listening:\n${output}`)));
  });
  // A key passed in is printed masked: only a generated one can be read from the output.
  const apiKey = env.LOCAL_API_KEY?.split(',')[0] || /API key: (\S+)/.exec(output)![1]!;
  return { child, url, apiKey, output: () => output };
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'npm-start-'));
  dirs.push(dir);
  return dir;
}

afterAll(async () => {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(-child.pid!, 'SIGKILL');
    }
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('npm start', () => {
  it('serves the seed request end to end and stops cleanly on SIGTERM', { timeout: ONE_START_MS }, async () => {
    const gateway = await npmStart({ LOCAL_DATA_DIR: tempDir() });
    // The key it generated: `lvg_` and 256 random bits, as the README promises.
    expect(gateway.apiKey).toMatch(/^lvg_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(gateway.apiKey.slice('lvg_'.length), 'base64url')).toHaveLength(32);
    const client = new SeedClient(gateway.url, gateway.apiKey);
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
    await exited(gateway.child);
    await eventually(() => !groupAlive(gateway.child.pid!), 'every process of npm start to exit');
    expect(gateway.output()).toContain('SIGTERM: stopping');
    await expect(fetch(gateway.url)).rejects.toThrow();
    await expect(fetch(done.video!.url)).rejects.toThrow(); // the S3 emulator is gone too
  });

  it('finishes every in-flight task after a hard kill and a restart with the same data dir', { timeout: TWO_STARTS_AND_A_LEASE_MS }, async () => {
    const dataDir = tempDir();
    const first = await npmStart({ LOCAL_DATA_DIR: dataDir, LOCAL_API_KEY: 'restart-key-0123456789' });
    const client = new SeedClient(first.url, first.apiKey);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { status, body } = await client.create({ user_prompt: `Restart case ${i}` });
      expect(status).toBe(200);
      ids.push(body.id);
    }
    process.kill(-first.child.pid!, 'SIGKILL');
    await exited(first.child);

    const second = await npmStart({ LOCAL_DATA_DIR: dataDir, LOCAL_API_KEY: 'restart-key-0123456789' });
    const again = new SeedClient(second.url, second.apiKey);
    for (const id of ids) {
      expect(await again.waitForTerminal(id, AFTER_A_LEASE_MS)).toMatchObject({ state: 'completed', failure_code: null });
    }
    process.kill(-second.child.pid!, 'SIGTERM');
    await exited(second.child);
  });

  it('fails a generation that outlives its deadline with deadline_exceeded', { timeout: ONE_START_MS }, async () => {
    const gateway = await npmStart({ LOCAL_DATA_DIR: tempDir(), GENERATION_TIMEOUT_SECONDS: '150' });
    const client = new SeedClient(gateway.url, gateway.apiKey);
    const { body } = await client.create({ user_prompt: 'A very slow sunrise [sim:slow]' });
    const done = await client.waitForTerminal(body.id);
    expect(done).toMatchObject({ state: 'failed', failure_code: 'deadline_exceeded' });
    expect(done.failure_reason).toMatch(/did not finish/);
    process.kill(-gateway.child.pid!, 'SIGTERM');
    await exited(gateway.child);
  });
});
