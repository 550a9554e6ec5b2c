/** The functions' settings, read at cold start: a bad value fails there, naming the variable. */
import { afterEach, describe, expect, it } from 'vitest';
import { settings } from '../../functions/commons/config.ts';
import { ConfigurationError } from '../../functions/commons/errors.ts';

const NAMES = ['LUMA_MODEL', 'LUMA_RESOLUTION', 'LUMA_DURATION', 'ALLOWED_MODELS', 'ALLOWED_RESOLUTIONS', 'ALLOWED_DURATIONS', 'UPSTREAM_RESUBMITS', 'LUMA_API_KEY_SECRET_ARN', 'POLL_INTERVAL_SECONDS'];
const saved = Object.fromEntries(NAMES.map((name) => [name, process.env[name]]));

function withEnv(env: Record<string, string>): void {
  for (const name of NAMES) delete process.env[name];
  Object.assign(process.env, env);
}

afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe('settings.upstream and settings.generationOffer', () => {
  it('defaults: ray-2, 720p, 5s, everything offered', () => {
    withEnv({ LUMA_API_KEY_SECRET_ARN: 'arn:secret' });
    expect(settings.upstream()).toMatchObject({ model: 'ray-2', resolution: '720p', duration: '5s' });
    expect(settings.generationOffer().resolution.allowed).toEqual(['540p', '720p', '1080p', '4k']);
  });

  it('reads the deployment’s defaults and allowed lists', () => {
    withEnv({ LUMA_API_KEY_SECRET_ARN: 'arn:secret', LUMA_MODEL: 'ray-flash-2', LUMA_RESOLUTION: '1080p', LUMA_DURATION: '9s', ALLOWED_RESOLUTIONS: '1080p' });
    expect(settings.upstream()).toMatchObject({ model: 'ray-flash-2', resolution: '1080p', duration: '9s' });
    expect(settings.generationOffer().resolution).toEqual({ default: '1080p', allowed: ['1080p'] });
  });

  it.each([
    [{ LUMA_RESOLUTION: '8k' }, /LUMA_RESOLUTION must be one of 540p, 720p, 1080p, 4k/],
    [{ LUMA_MODEL: 'ray-3' }, /LUMA_MODEL must be one of ray-2, ray-flash-2/],
    [{ ALLOWED_DURATIONS: '9s' }, /LUMA_DURATION is unset\) is not among ALLOWED_DURATIONS \(9s\)/],
  ])('%j is a ConfigurationError at cold start', (env, message) => {
    withEnv({ LUMA_API_KEY_SECRET_ARN: 'arn:secret', ...env });
    expect(() => settings.upstream()).toThrow(ConfigurationError);
    expect(() => settings.generationOffer()).toThrow(message);
  });
});

describe('settings.upstreamResubmits', () => {
  it('1 by default; 0 to 5 as set', () => {
    withEnv({});
    expect(settings.upstreamResubmits()).toBe(1);
    withEnv({ UPSTREAM_RESUBMITS: '0' });
    expect(settings.upstreamResubmits()).toBe(0);
    withEnv({ UPSTREAM_RESUBMITS: '5' });
    expect(settings.upstreamResubmits()).toBe(5);
  });

  it.each(['-1', '6', '1.5', 'once'])('%s is a ConfigurationError naming the variable', (value) => {
    withEnv({ UPSTREAM_RESUBMITS: value });
    expect(() => settings.upstreamResubmits()).toThrow(ConfigurationError);
    expect(() => settings.upstreamResubmits()).toThrow(/UPSTREAM_RESUBMITS/);
  });
});

describe('settings.pollIntervalSeconds (a workflow wait is whole seconds only)', () => {
  it('3 by default (the shortest wait of adaptive polling); whole seconds as set', () => {
    withEnv({});
    expect(settings.pollIntervalSeconds()).toBe(3);
    withEnv({ POLL_INTERVAL_SECONDS: '1' });
    expect(settings.pollIntervalSeconds()).toBe(1);
    withEnv({ POLL_INTERVAL_SECONDS: '3600' });
    expect(settings.pollIntervalSeconds()).toBe(3600);
  });

  it.each(['0.5', '1.5', '0', '-1', '3601', 'often'])('%s is a ConfigurationError naming the variable', (value) => {
    withEnv({ POLL_INTERVAL_SECONDS: value });
    expect(() => settings.pollIntervalSeconds()).toThrow(ConfigurationError);
    expect(() => settings.pollIntervalSeconds()).toThrow(/POLL_INTERVAL_SECONDS/);
  });
});
