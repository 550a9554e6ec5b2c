/**
 * `npm start`'s upstream settings (local/settings.ts): checked before anything starts, so a mistake names the
 * environment variable and the values it may take, rather than failing each task with a 400 upstream.
 */
import { describe, expect, it } from 'vitest';
import { corsFromEnv, edgeLimitsFromEnv, localGatewayOptionsFromEnv, upstreamSettingsFromEnv } from '../../local/settings.ts';

describe('upstreamSettingsFromEnv', () => {
  it('nothing set: nothing overridden, cdk.json’s context or the defaults apply', () => {
    const settings = upstreamSettingsFromEnv({});
    expect(settings.upstreamResubmits).toBeUndefined();
    for (const choice of Object.values(settings.upstreamChoices ?? {})) expect(choice).toEqual({ default: undefined, allowed: undefined });
  });

  it('passes the variables on, to be synthesized as the CDK context a deploy would use', () => {
    const settings = upstreamSettingsFromEnv({
      LUMA_MODEL: 'ray-flash-2',
      LUMA_RESOLUTION: '540p',
      LUMA_DURATION: '9s',
      ALLOWED_RESOLUTIONS: '540p,720p',
      UPSTREAM_RESUBMITS: '0',
    });
    expect(settings).toEqual({
      upstreamChoices: {
        model: { default: 'ray-flash-2', allowed: undefined },
        resolution: { default: '540p', allowed: '540p,720p' },
        duration: { default: '9s', allowed: undefined },
      },
      upstreamResubmits: 0,
    });
  });

  it.each([
    [{ LUMA_RESOLUTION: '8k' }, 'LUMA_RESOLUTION must be one of 540p, 720p, 1080p, 4k, not "8k".'],
    [{ LUMA_MODEL: 'ray-3' }, 'LUMA_MODEL must be one of ray-2, ray-flash-2, not "ray-3".'],
    [{ LUMA_DURATION: '5' }, 'LUMA_DURATION must be one of 5s, 9s, not "5".'],
    [{ ALLOWED_MODELS: 'ray-2,ray-1.6' }, 'ALLOWED_MODELS may list only ray-2, ray-flash-2; "ray-1.6" is not one of them.'],
    [{ ALLOWED_DURATIONS: ',' }, 'ALLOWED_DURATIONS must list at least one of 5s, 9s, or be unset to allow them all.'],
    [
      { LUMA_RESOLUTION: '4k', ALLOWED_RESOLUTIONS: '540p,720p,1080p' },
      'LUMA_RESOLUTION 4k is not among ALLOWED_RESOLUTIONS (540p, 720p, 1080p): set LUMA_RESOLUTION to one of them.',
    ],
    [{ ALLOWED_DURATIONS: '9s' }, 'The default duration 5s (LUMA_DURATION is unset) is not among ALLOWED_DURATIONS (9s): set LUMA_DURATION to one of them.'],
    [{ UPSTREAM_RESUBMITS: '-1' }, 'UPSTREAM_RESUBMITS must be a whole number from 0 to 5, not "-1".'],
    [{ UPSTREAM_RESUBMITS: '2.5' }, 'UPSTREAM_RESUBMITS must be a whole number from 0 to 5, not "2.5".'],
    [{ UPSTREAM_RESUBMITS: 'twice' }, 'UPSTREAM_RESUBMITS must be a whole number from 0 to 5, not "twice".'],
  ])('%j fails before anything starts: %s', (env, message) => {
    expect(() => upstreamSettingsFromEnv(env)).toThrow(message);
  });
});

describe('edgeLimitsFromEnv', () => {
  it('passes the edge limits on as numbers, and leaves unset ones to the deployment', () => {
    expect(edgeLimitsFromEnv({ CLIENT_REQUESTS_PER_MINUTE: '100', IP_REQUESTS_PER_MINUTE: ' ', API_RATE_LIMIT: '2.5' })).toEqual({
      edgeLimits: { requestsPerKey: 100, requestsPerAddress: undefined, rateLimit: 2.5, burstLimit: undefined },
    });
  });

  it('names a variable that is not a number', () => {
    expect(() => edgeLimitsFromEnv({ API_BURST_LIMIT: 'lots' })).toThrow('API_BURST_LIMIT must be a number, not "lots".');
  });
});

describe('corsFromEnv', () => {
  it('unset or empty: the deployment’s (none); set: the origins, checked, naming the variable', () => {
    expect(corsFromEnv({})).toEqual({});
    expect(corsFromEnv({ CORS_ALLOWED_ORIGINS: ' ' })).toEqual({});
    expect(corsFromEnv({ CORS_ALLOWED_ORIGINS: 'http://localhost:5173, https://app.example.test' })).toEqual({
      corsAllowedOrigins: ['http://localhost:5173', 'https://app.example.test'],
    });
    expect(() => corsFromEnv({ CORS_ALLOWED_ORIGINS: '*' })).toThrow(/^CORS_ALLOWED_ORIGINS: "\*" is not an origin/);
  });
});

describe('localGatewayOptionsFromEnv', () => {
  it('reads the runtime’s own settings and the overrides of the deployment’s', () => {
    const options = localGatewayOptionsFromEnv({
      PORT: '0',
      LOCAL_DATA_DIR: '/tmp/gw',
      LOCAL_TIME_SCALE: '0.05',
      LOCAL_API_KEY: 'dev, acc-key-beta,',
      LUMA_BASE_URL: 'https://upstream.example.test/v1',
      LUMA_API_KEY: 'k',
      GENERATION_TIMEOUT_SECONDS: '90',
      QUEUE_TIMEOUT_SECONDS: '30',
      UPSTREAM_MAX_CONCURRENT: '2',
      KEY_MAX_CONCURRENT: '3',
    });
    expect(options).toMatchObject({
      port: 0,
      dataDir: '/tmp/gw',
      timeScale: 0.05,
      apiKeys: ['dev', 'acc-key-beta'],
      upstream: { baseUrl: 'https://upstream.example.test/v1', apiKey: 'k' },
      generationTimeoutSeconds: 90,
      queueTimeoutSeconds: 30, // below a deployment's minute: the functions accept it, and it is scaled anyway
      capacity: { maxConcurrent: 2, maxCreatesPerMinute: undefined },
      keyLimits: { ratePerMinute: undefined, maxQueued: undefined, maxConcurrent: 3 },
    });
  });

  it.each([
    [{ LOCAL_TIME_SCALE: '0' }, 'LOCAL_TIME_SCALE must be a number above 0, not "0".'],
    [{ PORT: 'http' }, 'PORT must be a whole number from 0 to 65535, not "http".'],
    [{ KEY_MAX_QUEUED: '0' }, 'KEY_MAX_QUEUED must be a number, at least 1, not "0".'],
    [{ GENERATION_TIMEOUT_SECONDS: 'soon' }, 'GENERATION_TIMEOUT_SECONDS must be a number of seconds, at least 1, not "soon".'],
    [{ LOCAL_API_KEY: 'ok,has space' }, 'LOCAL_API_KEY: key 2 must be 1 to 256 visible ASCII characters (no spaces).'],
    [{ LUMA_BASE_URL: 'https://upstream.example.test/v1' }, 'Set both LUMA_BASE_URL and LUMA_API_KEY'],
  ])('%j fails before anything starts: %s', (env, message) => {
    expect(() => localGatewayOptionsFromEnv(env)).toThrow(message);
  });
});
