import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isLoopbackUrl, localPublicBaseUrl, markerUrl, parseCallbackPath, publicBaseUrlProblem } from '../../../functions/commons/domain/upstream-marker.ts';

const TASK = '0b4f1c2e-1111-4000-8000-000000000001';
const TOKEN = 'x'.repeat(43);

describe('the marker URL', () => {
  it('round-trips through the callback path, under any base path', () => {
    fc.assert(
      fc.property(fc.uuid({ version: 4 }), fc.stringMatching(/^[A-Za-z0-9_-]{43}$/), fc.constantFrom('', '/prod', '/a/b/'), (id, token, basePath) => {
        const url = new URL(markerUrl(`https://gw.example${basePath}`, id, token));
        const path = url.pathname.slice(url.pathname.indexOf('/luma/'));
        expect(parseCallbackPath(path)).toEqual({ taskId: id, token });
      }),
    );
  });

  it('refuses paths that are not exactly a task id and a token', () => {
    for (const path of [
      `/luma/upstream-callbacks/${TASK}`,
      `/luma/upstream-callbacks/${TASK}/${TOKEN}/more`,
      `/luma/upstream-callbacks/${TASK.toUpperCase()}/${TOKEN}`,
      `/luma/upstream-callbacks/${TASK}/${TOKEN}x`,
      `/luma/upstream-callbacks/..%2f/${TOKEN}`,
      `/luma/generations/${TASK}`,
    ]) {
      expect(parseCallbackPath(path), path).toBeUndefined();
    }
  });
});

describe('the public base URL', () => {
  it('knows loopback hosts', () => {
    for (const url of ['http://127.0.0.1:3000', 'http://127.9.8.7', 'http://localhost:1', 'http://[::1]:80', 'http://api.localhost']) expect(isLoopbackUrl(url), url).toBe(true);
    for (const url of ['https://gw.example', 'http://10.0.0.1', 'http://128.0.0.1', 'not a url']) expect(isLoopbackUrl(url), url).toBe(false);
  });

  it('never hands a remote upstream a loopback URL', () => {
    expect(publicBaseUrlProblem('http://127.0.0.1:3000', 'https://api.lumalabs.ai/dream-machine/v1')).toMatch(/loopback/);
    expect(publicBaseUrlProblem('http://127.0.0.1:3000', 'http://127.0.0.1:4000')).toBeUndefined();
  });

  it('wants https elsewhere, and no query, fragment or credentials', () => {
    expect(publicBaseUrlProblem('http://gw.example', 'https://api.lumalabs.ai')).toMatch(/https/);
    expect(publicBaseUrlProblem('https://gw.example/base', 'https://api.lumalabs.ai')).toBeUndefined();
    for (const url of ['https://gw.example/?a=1', 'https://gw.example/#x', 'https://u:p@gw.example']) {
      expect(publicBaseUrlProblem(url, 'https://api.lumalabs.ai'), url).toBe('PUBLIC_BASE_URL must have no query, fragment or credentials.');
    }
    expect(publicBaseUrlProblem('gw.example', 'https://api.lumalabs.ai')).toBe('PUBLIC_BASE_URL must be an absolute URL, not "gw.example".');
  });
});

describe('the public base URL of a local run', () => {
  const gateway = 'http://127.0.0.1:3000';
  it('is the gateway itself for an upstream on loopback (the simulated one)', () => {
    expect(localPublicBaseUrl(undefined, 'http://127.0.0.1:4000', gateway)).toBe(gateway);
  });
  it('is none for a remote upstream unless one is configured, and never a loopback one', () => {
    expect(localPublicBaseUrl(undefined, 'https://api.lumalabs.ai/dream-machine/v1', gateway)).toBeUndefined();
    expect(localPublicBaseUrl('https://tunnel.example', 'https://api.lumalabs.ai/dream-machine/v1', gateway)).toBe('https://tunnel.example');
    expect(() => localPublicBaseUrl('http://localhost:3000', 'https://api.lumalabs.ai/dream-machine/v1', gateway)).toThrow(/loopback/);
  });
});
