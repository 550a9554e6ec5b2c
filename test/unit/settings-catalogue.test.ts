/**
 * The settings catalogue is the one place a setting's name, default, bounds and meaning live: the README's
 * configuration tables must say exactly what it says, and what reads settings must get its defaults.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONTEXT_UNIT_SECONDS, SETTINGS, SETTING_NAMES, type Setting } from '../../functions/commons/settings/catalogue.ts';
import { numberProblem } from '../../functions/commons/settings/reader.ts';
import { TABLE_HEADINGS, cellsOf, findTable, settingsRows, settingsTable, type SettingsTable } from '../../scripts/settings-tables.ts';
import { settings } from '../../functions/commons/config.ts';
import { DEFAULT_KEY_LIMITS } from '../../functions/commons/domain/api-key.ts';
import { FULL_OFFER } from '../../functions/commons/domain/luma-options.ts';
import { localGatewayOptionsFromEnv } from '../../local/settings.ts';
import { DEFAULT_HANG_MS, FAULT_KINDS } from '../../local/simulated-luma.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const TABLES: SettingsTable[] = ['local', 'deploy'];
const all = SETTING_NAMES.map((name) => [name, SETTINGS[name] as Setting] as const);

describe.each(TABLES)('the README’s %s table is the catalogue’s', (table) => {
  const readme = findTable(README, TABLE_HEADINGS[table]).lines;
  const readmeRows = readme.slice(2).map((line) => {
    const [name, value, doc, ...rest] = cellsOf(line);
    return { name, default: value, doc, ...(rest.length > 0 && { extra: rest }) };
  });
  const expected = settingsRows(table);

  it('lists every setting of the table, once each, in the catalogue’s order (`npm run settings:readme` writes it)', () => {
    expect(readmeRows.map((row) => row.name)).toEqual(expected.map((row) => row.name));
  });

  it.each(expected.map((row) => [row.name, row] as const))('%s: the same default and doc', (name, row) => {
    expect(readmeRows.find((candidate) => candidate.name === name)).toEqual(row);
  });

  it('is the rendered table, line for line (header included)', () => {
    expect(readme).toEqual(settingsTable(table));
  });
});

describe('the catalogue', () => {
  it('names each environment variable and each context key once', () => {
    for (const field of ['env', 'context'] as const) {
      const names = all.map(([, setting]) => setting[field]).filter(Boolean);
      expect(new Set(names).size, field).toBe(names.length);
    }
  });

  it('lists in the README every setting an operator sets: each `npm start` row has a variable, each context key a row', () => {
    for (const [name, setting] of all) {
      if (setting.local) expect(setting.env, name).toBeDefined();
      if (setting.context) expect(settingsRows('deploy').map((row) => row.name), name).toContain(`\`${setting.context}\``);
    }
  });

  it.each(all.filter(([, setting]) => setting.type === 'number' && setting.default !== undefined))(
    '%s: its default is within its bounds, the deployment’s and the functions’',
    (name, setting) => {
      if (setting.type !== 'number' || setting.default === undefined) throw new Error('filtered');
      expect(numberProblem(setting, setting.default, name)).toBeUndefined();
      if (setting.runtime) expect(numberProblem(setting.runtime, setting.default, name)).toBeUndefined();
      // A context key that counts minutes or hours shows a whole number of them.
      if (setting.contextIn) expect(Number.isInteger(setting.default / CONTEXT_UNIT_SECONDS[setting.contextIn]), name).toBe(true);
    },
  );

  it('a choice’s default is one of its values; a list’s default entries are among its values', () => {
    for (const [name, setting] of all) {
      if (setting.type === 'choice') expect(setting.values, name).toContain(setting.default);
      if (setting.type === 'list' && setting.values && setting.default) for (const entry of setting.default) expect(setting.values, name).toContain(entry);
    }
  });

  it('docs are one line of a table: no line break, no cell separator', () => {
    for (const [name, setting] of all) {
      for (const text of [setting.doc, setting.local?.note, setting.deploy?.note, setting.local?.default, setting.deploy?.default]) {
        expect(text ?? '', name).not.toMatch(/[\n|]/);
      }
    }
  });
});

describe('what reads settings gets the catalogue’s defaults', () => {
  it('the functions’ config, with nothing set', () => {
    const saved = { ...process.env };
    try {
      for (const [, setting] of all) if (setting.env) delete process.env[setting.env];
      expect(settings.capacity()).toEqual({ maxConcurrent: SETTINGS.upstreamMaxConcurrent.default, maxCreatesPerMinute: SETTINGS.upstreamMaxCreatesPerMinute.default });
      expect(settings.keyLimits()).toEqual({ ratePerMinute: 600, maxQueued: 1000, weight: 1 });
      expect(settings.keyLimits()).toEqual(DEFAULT_KEY_LIMITS);
      expect(settings.generationTimeoutSeconds()).toBe(1800);
      expect(settings.queueTimeoutSeconds()).toBe(86_400);
      expect(settings.pollIntervalSeconds()).toBe(3);
      expect(settings.polling()).toEqual({
        schedule: { callbackFallbackSeconds: 60, minIntervalSeconds: 3, maxIntervalSeconds: 60, firstPollFraction: 0.9, lateGrowth: 0.25, maxPollsPerTask: 40 },
        callbacks: true,
        priorSeconds: 120,
        timeScale: 1,
      });
      expect(settings.reconcileGraceSeconds()).toBe(120);
      expect(settings.upstreamResubmits()).toBe(1);
      expect(settings.assetHostAllowlist()).toBe('*.cdn-luma.com');
      expect(settings.generationOffer()).toEqual(FULL_OFFER);
      expect(settings.corsAllowedOrigins()).toEqual([]);
    } finally {
      process.env = saved;
    }
  });

  it('`npm start`, with nothing set: its own defaults, and no override of the deployment’s', () => {
    const options = localGatewayOptionsFromEnv({});
    expect(options).toMatchObject({ dataDir: '.local', port: 3000, apiKeys: [], timeScale: 1, upstream: undefined, publicBaseUrl: undefined });
    expect(options.generationTimeoutSeconds).toBeUndefined();
    expect(options.capacity).toEqual({ maxConcurrent: undefined, maxCreatesPerMinute: undefined });
    expect(options.keyLimits).toEqual({ ratePerMinute: undefined, maxQueued: undefined, maxConcurrent: undefined });
  });

  it('the simulated upstream: its hang and its fault kinds', () => {
    expect(DEFAULT_HANG_MS).toBe(SETTINGS.simHangMs.default);
    for (const kind of FAULT_KINDS) expect(SETTINGS.simFaults.doc).toContain(`\`${kind}\``);
  });
});
