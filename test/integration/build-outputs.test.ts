/**
 * What `npm run build` writes is committed (the API function bundles the playground without a build step):
 * it must be what the sources make now. When this fails, run `npm run build` and commit the result.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { buildPlayground, OPENAPI_FILE, openApiJson, PLAYGROUND_MODULE, playgroundModule } from '../../scripts/build.ts';

describe('the committed build outputs (npm run build)', () => {
  it('openapi.json is the document the schemas make', () => {
    expect(readFileSync(OPENAPI_FILE, 'utf8'), 'openapi.json is stale: run npm run build').toBe(openApiJson());
  });

  it('the playground module is the bundle playground/ makes', async () => {
    expect(readFileSync(PLAYGROUND_MODULE, 'utf8') === playgroundModule(await buildPlayground()), 'the playground bundle is stale: run npm run build').toBe(true);
  });
});
