import { describe, expect, it } from 'vitest';
import { isSitePath, playgroundCsp, serveSite, siteDeps } from '../../functions/api/site.ts';
import { PLAYGROUND_ASSETS } from '../../functions/api/playground-assets.generated.ts';
import { FULL_OFFER } from '../../functions/commons/domain/luma-options.ts';
import { MethodNotAllowedError } from '../../functions/commons/errors.ts';
import type { HttpRequest } from '../../functions/api/http.ts';

const BUCKET = 'https://videos-123.s3.eu-west-1.amazonaws.com';
const request = (method: string, path: string): HttpRequest => ({ method, path, headers: {}, query: {}, body: Buffer.alloc(0), requestId: 'req-1' });

describe('the public pages', () => {
  let origins = 0;
  const deps = siteDeps(FULL_OFFER, { linkOrigin: async () => (origins++, BUCKET) });

  it('serves the playground with a policy of this origin, and the bucket for media, thumbnails and uploads', async () => {
    const page = (await serveSite(request('GET', '/'), deps))!;
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toBe(
      `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: ${BUCKET}; media-src ${BUCKET}; connect-src 'self' ${BUCKET}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    );
    expect(page.headers['content-security-policy']).toBe(playgroundCsp(BUCKET));
    expect(page.body).toBe(PLAYGROUND_ASSETS['/']!.body);
    await serveSite(request('GET', '/'), deps);
    expect(origins).toBe(1); // presigned once, not per request
  });

  it('serves the hashed script and styles for a year, and the document for this offer', async () => {
    const assets = Object.keys(PLAYGROUND_ASSETS).filter((path) => path !== '/');
    expect(assets.map((path) => path.replace(/[0-9a-f]{10}/, 'HASH')).sort()).toEqual(['/playground-HASH.css', '/playground-HASH.js']);
    for (const path of assets) expect((await serveSite(request('GET', path), deps))!.headers['cache-control']).toContain('immutable');
    const document = (await serveSite(request('GET', '/openapi.json'), deps))!;
    expect(JSON.parse(document.body).openapi).toBe('3.1.0');
  });

  it('answers 405 to other methods, and leaves every other path to the API', async () => {
    await expect(serveSite(request('POST', '/'), deps)).rejects.toBeInstanceOf(MethodNotAllowedError);
    await expect(serveSite(request('GET', '/luma/generations'), deps)).resolves.toBeUndefined();
    expect(isSitePath('/index.html')).toBe(false);
    expect(isSitePath('/openapi.json')).toBe(true);
  });
});
