/**
 * The playground's gallery on the task API (the list, cancel and delete routes), in Debian's
 * chromium: the list shows generations made elsewhere, Cancel turns an unfinished one into a cancelled
 * one, Delete removes a finished one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import type { LocalGateway } from '../../local/gateway.ts';
import { LumaVideoClient } from '../../client/src/index.ts';
import { startClientGateway, stopClientGateway } from '../support/client-gateway.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const KEY = 'playground-task-api-key-0123456789';

let dataDir: string;
let gateway: LocalGateway;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`No browser at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH).`);
  ({ gateway, dataDir } = await startClientGateway('playground-task-api-', [KEY]));
});

afterAll(async () => {
  await browser?.close();
  await stopClientGateway(gateway, dataDir);
});

describe('the playground’s gallery', () => {
  it('lists generations made elsewhere, cancels an unfinished one and deletes a finished one', async () => {
    const client = new LumaVideoClient({ baseUrl: gateway.url, apiKey: KEY });
    const finished = await client.generate({ user_prompt: 'A lantern drifting up, made by the CLI' });
    const slow = await client.createGeneration({ user_prompt: 'A glacier, very slowly [sim:slow]' });

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await page.goto(`${gateway.url}/`);
    await page.getByLabel('Your client key').fill(KEY);
    await page.getByRole('button', { name: 'Use key' }).click();

    const slowCard = page.locator(`li.card[data-id="${slow.id}"]`);
    const finishedCard = page.locator(`li.card[data-id="${finished.id}"]`);
    await slowCard.waitFor({ timeout: 60_000 });
    await finishedCard.locator('video').waitFor({ timeout: 60_000 });

    await slowCard.getByRole('button', { name: /^Cancel/ }).click();
    await expect.poll(() => slowCard.locator('.status').textContent(), { timeout: 60_000 }).toMatch(/^Cancelled/);
    expect(await client.getGeneration(slow.id)).toMatchObject({ state: 'failed', failure_code: 'cancelled' });

    await finishedCard.getByRole('button', { name: /^Delete/ }).click();
    await finishedCard.waitFor({ state: 'detached', timeout: 60_000 });
    await expect(client.getGeneration(finished.id)).rejects.toMatchObject({ status: 404 });

    mkdirSync(join(ROOT, 'test/artifacts'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test/artifacts/playground-gallery.png'), fullPage: true });
  });
});
