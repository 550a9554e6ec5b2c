/**
 * `npm start` as a user meets it: the CLI's promise (`npx luma-video generate "A flamingo" --wait --out …`
 * writes the MP4 and exits 0), and the playground in a real browser, Debian's chromium driven by
 * playwright-core: a key, a prompt with a start image uploaded through /luma/uploads, the stored video
 * playing inline, and the gallery after a reload. Screenshots go to test/artifacts/ for a person to look at.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { killChildren, npmStart } from '../../scripts/chaos/npm-start.ts';
import { LumaVideoClient } from '../../client/src/index.ts';
import { ROOMY_DEADLINE_SECONDS, TEST_TIME_SCALE } from '../support/time.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const SAMPLE_MP4 = readFileSync(join(ROOT, 'local/assets/sample.mp4'));
const TINY_PNG = join(ROOT, 'test/fixtures/media/tiny.png');
const ARTIFACTS = join(ROOT, 'test/artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const KEY = 'dev';

let dir: string;
let gateway: Awaited<ReturnType<typeof npmStart>>;
let browser: Browser | undefined;

/** A port free now, so the page's own origin can be named in CORS_ALLOWED_ORIGINS before the gateway starts. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`No browser at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH).`);
  dir = mkdtempSync(join(tmpdir(), 'playground-e2e-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  const port = await freePort();
  gateway = await npmStart(
    {
      LOCAL_DATA_DIR: join(dir, 'data'),
      PORT: String(port),
      LOCAL_API_KEY: KEY,
      LOCAL_TIME_SCALE: String(TEST_TIME_SCALE),
      GENERATION_TIMEOUT_SECONDS: String(ROOMY_DEADLINE_SECONDS),
      // The page PUTs keyframes straight to the bucket: the bucket must allow the page's origin.
      CORS_ALLOWED_ORIGINS: `http://127.0.0.1:${port}`,
    },
    join(dir, 'npm-start.log'),
  );
});

afterAll(async () => {
  await browser?.close();
  await gateway?.stop('SIGTERM');
  killChildren();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('luma-video against npm start', () => {
  it('npx luma-video generate "A flamingo" --wait --out writes the MP4 and exits 0', async () => {
    const file = join(dir, 'flamingo.mp4');
    const child = spawn('npx', ['luma-video', 'generate', 'A flamingo', '--wait', '--out', file], {
      cwd: ROOT,
      env: { ...process.env, LUMA_GATEWAY_URL: gateway.url, LUMA_GATEWAY_KEY: KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, output).toBe(0);
    expect(readFileSync(file).equals(SAMPLE_MP4)).toBe(true);
  });
});

/** The first video of the gallery once it plays: its source and how far it got. */
/** The video of the card of generation `id` once it plays (the gallery lists the caller's other generations too). */
async function playingVideo(page: Page, id: string): Promise<{ src: string; time: number; width: number }> {
  // Page code reaches the DOM through globalThis: this project's TypeScript has no DOM types. (A function, not a
  // string: the page's Content-Security-Policy refuses eval, as it should.)
  const handle = await page.waitForFunction(
    (id: string) => {
      const video = (globalThis as any).document.querySelector(`li.card[data-id="${id}"] video`);
      return video && video.readyState >= 2 && video.currentTime > 0 && !video.paused
        ? { src: video.currentSrc as string, time: video.currentTime as number, width: video.videoWidth as number }
        : null;
    },
    id,
    { timeout: 120_000, polling: 100 },
  );
  return (await handle.jsonValue()) as { src: string; time: number; width: number };
}

describe('the playground in Chromium', () => {
  it('submits a prompt with a start image, plays the stored video, and keeps it in the gallery', async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => /Content Security Policy/i.test(message.text()) && problems.push(message.text()));
    const puts: number[] = [];
    const requests: string[] = [];
    page.on('request', (request) => requests.push(`${request.method()} ${request.url().slice(0, 80)}`));
    page.on('requestfailed', (request) => requests.push(`FAILED ${request.method()} ${request.failure()?.errorText}`));
    page.on('requestfinished', async (request) => {
      if (request.method() === 'PUT') puts.push((await request.response())?.status() ?? 0);
    });

    await page.goto(`${gateway.url}/`);
    await expect(page.title()).resolves.toContain('playground');
    // Labels name every control (what a screen reader announces, and what these locators find).
    await page.getByLabel('Your client key').fill(KEY);
    await page.getByRole('button', { name: 'Use key' }).click();
    await page.getByLabel('Prompt').fill('A flamingo wading at dawn, from the playground');
    await page.getByLabel('Aspect ratio').selectOption('16:9');
    await expect(page.getByLabel('Resolution').inputValue()).resolves.toBe('720p'); // the gateway's default, from /openapi.json
    await page.getByLabel('Start image (optional)').setInputFiles(TINY_PNG);
    // By keyboard: focus the button and press Enter.
    await page.getByRole('button', { name: 'Generate' }).focus();
    await page.keyboard.press('Enter');

    await page.getByText(/^Created [0-9a-f-]{36}\.$/).waitFor({ timeout: 60_000 });
    const id = /Created ([0-9a-f-]{36})/.exec((await page.locator('#form-status').textContent())!)![1]!;
    const played = await playingVideo(page, id);
    expect(played.src).toContain(`/generations/${id}/video.mp4`);
    expect(played.width).toBe(320);
    await page.screenshot({ path: join(ARTIFACTS, 'playground-desktop.png'), fullPage: true });

    // What the page showed is what the API stored: the uploaded keyframe went through a PUT to the bucket.
    expect(puts, requests.join('\n')).toEqual([200]);
    const generation = await new LumaVideoClient({ baseUrl: gateway.url, apiKey: KEY }).getGeneration(id);
    expect(generation).toMatchObject({ state: 'completed', aspect_ratio: '16:9', prompt: 'A flamingo wading at dawn, from the playground' });
    const card = page.locator(`li.card[data-id="${id}"]`);
    await expect(card.locator('.status').textContent()).resolves.toMatch(/^Completed · /);
    const download = await card.getByRole('link', { name: 'Download MP4' }).getAttribute('href');
    expect(download).toContain('response-content-disposition=attachment');

    // The key stays in the tab: not in localStorage, not in a cookie.
    const stored = await page.evaluate(() => {
      const window = globalThis as any;
      return [window.sessionStorage.getItem('luma-video-gateway.key'), window.localStorage.length, window.document.cookie];
    });
    expect(stored).toEqual([KEY, 0, '']);

    // The gallery after a reload, on a phone-sized screen.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    const video = page.locator(`li.card[data-id="${id}"] video`);
    await video.waitFor({ timeout: 60_000 });
    // Below the fold on a phone: Chrome plays a muted autoplay video only once it is on screen, as a person scrolls to it.
    await video.scrollIntoViewIfNeeded();
    await playingVideo(page, id);
    const overflow = await page.evaluate(() => {
      const root = (globalThis as any).document.documentElement;
      return (root.scrollWidth - root.clientWidth) as number;
    });
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(ARTIFACTS, 'playground-phone.png'), fullPage: true });
    expect(problems).toEqual([]);
  });
});
