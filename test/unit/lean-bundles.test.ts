/**
 * What each function's bundle holds, as esbuild tree-shakes it (the AWS SDK left out: it is the same in
 * every bundle, and `npm run bench` measures the whole). Sizes, not times: a cold start's cost grows with
 * what it compiles, and two imports are enough to double it:
 * - zod's named `z` export is an object holding the whole library, so `import { z } from 'zod'` keeps all
 *   of it (460 kB of the API's bundle once); `import * as z from 'zod'` keeps what is used;
 * - a zod schema built at module scope is kept wherever its module is imported, read or not: the schemas
 *   of what the API answers live apart from the mappings the other functions use (public-generation-schema.ts,
 *   generation-event-detail.ts, delivery-view.ts), so only the API, which validates requests, bundles zod
 *   (95 kB of every other bundle before);
 * - no function bundles undici: the copy's downloads and the webhook sender use Node's own http client
 *   (undici was 540 kB of the deliver-webhook bundle's 1,280).
 */
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const FUNCTIONS = ['api', 'poll', 'copy', 'record-failure', 'reconcile', 'deliver-webhook'] as const;

async function packagesOf(fn: (typeof FUNCTIONS)[number]): Promise<Record<string, number>> {
  const result = await build({
    entryPoints: [`functions/${fn}/handler.ts`],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    mainFields: ['module', 'main'],
    external: ['@aws-sdk/*', '@smithy/*'],
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const kb: Record<string, number> = {};
  for (const [path, input] of Object.entries(Object.values(result.metafile.outputs)[0]!.inputs)) {
    const name = path.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/)?.[1] ?? 'project';
    kb[name] = (kb[name] ?? 0) + input.bytesInOutput / 1024;
  }
  return kb;
}

describe('lean bundles', () => {
  it.each(FUNCTIONS)('%s keeps only the zod it uses (none unless it validates requests), and no undici', async (fn) => {
    const kb = await packagesOf(fn);
    if (fn === 'api') expect(kb.zod).toBeLessThan(150);
    else expect(kb.zod, 'zod').toBeUndefined();
    expect(kb.undici, 'undici').toBeUndefined();
  });
});
