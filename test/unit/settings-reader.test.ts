/** The one reader of settings and its one number check: what it accepts, and how a refusal names the setting. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  SettingError,
  SettingsReader,
  checkSetting,
  describeBounds,
  numberProblem,
  parseNumber,
  settingsEnvironment,
} from '../../functions/commons/settings/reader.ts';

describe('describeBounds', () => {
  it.each([
    [{}, 'a number'],
    [{ integer: true, min: 0, max: 5 }, 'a whole number from 0 to 5'],
    [{ integer: true, min: 1, max: 3600, unit: 'seconds' }, 'a whole number of seconds from 1 to 3600'],
    [{ unit: 'requests a second', above: 0 }, 'a number of requests a second above 0'],
    [{ unit: 'seconds', min: 1 }, 'a number of seconds, at least 1'],
    [{ integer: true, min: 10, max: 2e9, unit: 'requests a minute', why: "AWS WAF's bounds" }, "a whole number of requests a minute from 10 to 2000000000 (AWS WAF's bounds)"],
    [{ duration: true, min: 60, max: 604_800 }, 'from 1 minute to 168 hours'],
    [{ duration: true, min: 90 }, 'at least 90 seconds'],
  ])('%j: %s', (bounds, text) => {
    expect(describeBounds(bounds)).toBe(text);
  });
});

describe('numberProblem', () => {
  it('accepts exactly the numbers within the bounds', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true }), (value) => {
        const fits = Number.isSafeInteger(value) && value >= 1 && value <= 100;
        expect(numberProblem({ integer: true, min: 1, max: 100 }, value, 'x') === undefined).toBe(fits);
      }),
    );
    expect(numberProblem({ above: 0 }, 0, 'x')).toBe('x must be a number above 0, not 0.');
    expect(numberProblem({}, Number.POSITIVE_INFINITY, 'x')).toBe('x must be a number, not Infinity.');
    expect(numberProblem({ integer: true }, 1e20, 'x')).toBe('x must be a whole number, not 100000000000000000000.'); // not a safe integer
  });
});

describe('parseNumber', () => {
  it('unset or blank: undefined; text or a number: the number', () => {
    for (const raw of [undefined, null, '', '  ']) expect(parseNumber(raw, 'X')).toBeUndefined();
    expect(parseNumber(' 2.5 ', 'X')).toBe(2.5);
    expect(parseNumber(7, 'X')).toBe(7);
    expect(parseNumber('1e3', 'X')).toBe(1000);
  });

  it('refuses what is not a plain number, quoting the text it was given', () => {
    for (const raw of ['0x10', 'Infinity', 'ten', '1,000', '- 1']) {
      expect(() => parseNumber(raw, 'X')).toThrow(`X must be a number, not "${raw.trim()}".`);
    }
    // A whole number is written in digits.
    expect(() => parseNumber('1e3', '--rate', { integer: true, min: 1, max: 100_000 })).toThrow('--rate must be a whole number from 1 to 100000, not "1e3".');
    expect(() => parseNumber(' 6 ', 'UPSTREAM_RESUBMITS', { integer: true, min: 0, max: 5 })).toThrow(SettingError);
  });
});

describe('checkSetting', () => {
  it('holds a value to the catalogue’s bounds, naming it by its context key unless told otherwise', () => {
    expect(checkSetting('keyMaxQueued', 1000)).toBe(1000);
    expect(() => checkSetting('keyMaxQueued', 0)).toThrow('keyMaxQueued must be a whole number from 1 to 100000, not 0.');
    expect(() => checkSetting('queueTimeout', 169 * 3600, 'queueTimeoutHours', '169 hours')).toThrow(
      'queueTimeoutHours must be from 1 minute to 168 hours, not 169 hours.',
    );
  });
});

describe('SettingsReader', () => {
  it('reads an environment by variable, with the deployment’s or the functions’ bounds', () => {
    const env = SettingsReader.env({ QUEUE_TIMEOUT_SECONDS: '8.64', UPSTREAM_RESUBMITS: '9', TABLE_NAME: '' }, (name) => `Environment variable ${name}`);
    expect(env.number('queueTimeout', 'runtime')).toBe(8.64); // the local runtime scales it below a deployment’s minute
    expect(() => env.number('queueTimeout')).toThrow('Environment variable QUEUE_TIMEOUT_SECONDS must be from 1 minute to 168 hours, not "8.64".');
    expect(() => env.number('upstreamResubmits', 'runtime')).toThrow('Environment variable UPSTREAM_RESUBMITS must be a whole number from 0 to 5, not "9".');
    expect(() => env.required('tableName')).toThrow('Environment variable TABLE_NAME is not set.');
  });

  it('reads the CDK context by key: numbers from cdk.json or text, lists as arrays or comma-separated, booleans', () => {
    const values: Record<string, unknown> = { keyMaxQueued: 50, pollIntervalSeconds: '30', assetHostAllowlist: 'a.example, ,b.example', corsAllowedOrigins: ['https://x.test'], apiGatewayCloudWatchRole: 'false' };
    const context = SettingsReader.context((key) => values[key]);
    expect(context.number('keyMaxQueued', 'number')).toBe(50);
    expect(context.number('pollInterval', 'number')).toBe(30);
    expect(context.list('assetHostAllowlist')).toEqual(['a.example', 'b.example']);
    expect(context.list('corsAllowedOrigins')).toEqual(['https://x.test']);
    expect(context.boolean('apiGatewayCloudWatchRole')).toBe(false);
    expect(context.number('upstreamResubmits')).toBeUndefined();
    values.apiGatewayCloudWatchRole = 'maybe';
    expect(() => context.boolean('apiGatewayCloudWatchRole')).toThrow('Context apiGatewayCloudWatchRole must be true or false, not "maybe".');
    values.upstreamMaxConcurrent = 'many';
    expect(() => context.number('upstreamMaxConcurrent', 'number')).toThrow('Context upstreamMaxConcurrent must be a number, not "many".');
  });

  it('a choice is one of its values', () => {
    expect(SettingsReader.env({ SIM_OTHER_CLIENTS: ' 0 ' }).choice('simOtherClients')).toBe('0');
    expect(() => SettingsReader.env({ SIM_OTHER_CLIENTS: 'yes' }).choice('simOtherClients')).toThrow('SIM_OTHER_CLIENTS must be one of 0, 1, not "yes".');
  });

  it('a setting without a variable or a context key cannot be read from one', () => {
    expect(() => SettingsReader.env({}).number('reconcileInterval')).toThrow(/no environment variable/);
    expect(() => SettingsReader.context(() => undefined).number('reconcileGrace')).toThrow(/no context key/);
  });
});

describe('settingsEnvironment', () => {
  it('writes each value under its variable, lists joined by commas, unset ones left out', () => {
    expect(settingsEnvironment({ pollInterval: 10, assetHostAllowlist: ['a.example', 'b.example'], keyMaxConcurrent: undefined, tableName: 't' })).toEqual({
      POLL_INTERVAL_SECONDS: '10',
      ASSET_HOST_ALLOWLIST: 'a.example,b.example',
      TABLE_NAME: 't',
    });
  });
});
