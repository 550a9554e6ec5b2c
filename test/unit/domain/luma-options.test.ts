import { describe, expect, it } from 'vitest';
import {
  FULL_OFFER,
  GENERATION_OPTIONS,
  allowedChoicesEnvironment,
  defaultChoicesEnvironment,
  effectiveChoices,
  offerSettingsFromEnv,
  parseGenerationOffer,
} from '../../../functions/commons/domain/luma-options.ts';

describe('parseGenerationOffer', () => {
  it('unset or empty settings: ray-2, 720p, 5s, everything Luma offers allowed', () => {
    expect(parseGenerationOffer({}, 'env')).toEqual(FULL_OFFER);
    expect(parseGenerationOffer({ model: { default: '', allowed: '' }, resolution: { default: null, allowed: null } }, 'context')).toEqual(FULL_OFFER);
    expect(FULL_OFFER).toEqual({
      model: { default: 'ray-2', allowed: ['ray-2', 'ray-flash-2'] },
      resolution: { default: '720p', allowed: ['540p', '720p', '1080p', '4k'] },
      duration: { default: '5s', allowed: ['5s', '9s'] },
    });
  });

  it('reads defaults, and allowed lists comma-separated or as lists, kept in Luma’s order', () => {
    const offer = parseGenerationOffer(
      {
        model: { default: 'ray-flash-2' },
        resolution: { default: '1080p', allowed: ' 1080p , 540p,,720p ' },
        duration: { default: '9s', allowed: ['9s', '5s', '9s'] },
      },
      'context',
    );
    expect(offer).toEqual({
      model: { default: 'ray-flash-2', allowed: ['ray-2', 'ray-flash-2'] },
      resolution: { default: '1080p', allowed: ['540p', '720p', '1080p'] },
      duration: { default: '9s', allowed: ['5s', '9s'] },
    });
  });

  it.each([
    ['env', { resolution: { default: '8k' } }, 'LUMA_RESOLUTION must be one of 540p, 720p, 1080p, 4k, not "8k".'],
    ['context', { resolution: { default: '8k' } }, 'upstreamResolution must be one of 540p, 720p, 1080p, 4k, not "8k".'],
    ['env', { model: { default: 'ray-3' } }, 'LUMA_MODEL must be one of ray-2, ray-flash-2, not "ray-3".'],
    ['context', { duration: { default: '10s' } }, 'upstreamDuration must be one of 5s, 9s, not "10s".'],
    ['env', { duration: { allowed: '5s,10s' } }, 'ALLOWED_DURATIONS may list only 5s, 9s; "10s" is not one of them.'],
    ['context', { model: { allowed: ['ray-2', 'ray-1.6'] } }, 'allowedModels may list only ray-2, ray-flash-2; "ray-1.6" is not one of them.'],
    ['env', { resolution: { allowed: ' , ' } }, 'ALLOWED_RESOLUTIONS must list at least one of 540p, 720p, 1080p, 4k, or be unset to allow them all.'],
    ['context', { model: { allowed: [] } }, 'allowedModels must list at least one of ray-2, ray-flash-2, or be unset to allow them all.'],
    [
      'env',
      { resolution: { default: '4k', allowed: '540p,720p,1080p' } },
      'LUMA_RESOLUTION 4k is not among ALLOWED_RESOLUTIONS (540p, 720p, 1080p): set LUMA_RESOLUTION to one of them.',
    ],
    [
      'context',
      { resolution: { allowed: '1080p,4k' } },
      'The default resolution 720p (upstreamResolution is unset) is not among allowedResolutions (1080p, 4k): set upstreamResolution to one of them.',
    ],
  ] as const)('%s: %j fails, naming the setting and the allowed values', (names, raw, message) => {
    expect(() => parseGenerationOffer(raw, names)).toThrow(message);
  });

  it('values are exact: no case folding', () => {
    expect(() => parseGenerationOffer({ resolution: { default: '4K' } }, 'env')).toThrow(/LUMA_RESOLUTION/);
    expect(() => parseGenerationOffer({ model: { allowed: 'Ray-2' } }, 'env')).toThrow(/ALLOWED_MODELS/);
  });
});

describe('settings as environment variables', () => {
  it('round-trips through the functions’ environment', () => {
    const offer = parseGenerationOffer({ model: { default: 'ray-flash-2' }, resolution: { allowed: '540p,720p' }, duration: { default: '9s' } }, 'context');
    const env = { ...defaultChoicesEnvironment(offer), ...allowedChoicesEnvironment(offer) };
    expect(env).toEqual({
      LUMA_MODEL: 'ray-flash-2',
      LUMA_RESOLUTION: '720p',
      LUMA_DURATION: '9s',
      ALLOWED_MODELS: 'ray-2,ray-flash-2',
      ALLOWED_RESOLUTIONS: '540p,720p',
      ALLOWED_DURATIONS: '5s,9s',
    });
    expect(parseGenerationOffer(offerSettingsFromEnv(env), 'env')).toEqual(offer);
  });

  it('every choice has its own names', () => {
    const names = Object.values(GENERATION_OPTIONS).flatMap((option) => [option.env, option.allowedEnv, option.context, option.allowedContext]);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('effectiveChoices', () => {
  const offer = parseGenerationOffer({ resolution: { default: '1080p' } }, 'env');
  it('the request’s choice where it made one, else the deployment’s default', () => {
    expect(effectiveChoices({}, offer)).toEqual({ model: 'ray-2', resolution: '1080p', duration: '5s' });
    expect(effectiveChoices({ model: 'ray-flash-2', duration: '9s' }, offer)).toEqual({ model: 'ray-flash-2', resolution: '1080p', duration: '9s' });
    expect(effectiveChoices({ resolution: undefined }, offer).resolution).toBe('1080p');
  });
});
