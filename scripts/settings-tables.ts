/**
 * The README's configuration tables, from the settings catalogue (functions/commons/settings/catalogue.ts):
 * `npm start`'s environment variables and the CDK context keys. test/unit/settings-catalogue.test.ts fails
 * when the README's differ; this rewrites them in place:
 *
 *   npm run settings:readme
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CONTEXT_UNIT_SECONDS, SETTINGS, SETTING_NAMES, type Setting } from '../functions/commons/settings/catalogue.ts';

/** `local`: the variables `npm start` reads; `deploy`: the CDK context keys. */
export type SettingsTable = 'local' | 'deploy';

/** Where each table sits in the README: the first table after this heading. */
export const TABLE_HEADINGS: Record<SettingsTable, string> = {
  local: '### `npm start`',
  deploy: '### Deploying (CDK context, `-c key=value` or `cdk.json`)',
};

const HEADERS: Record<SettingsTable, string[]> = {
  local: ['| variable | default | |', '|---|---|---|'],
  deploy: ['| context key | default | |', '|---|---|---|'],
};

/** One row of a table, by its cells. */
export interface SettingsRow {
  name: string;
  default: string;
  doc: string;
}

/** The rows a table lists, in the catalogue's order. */
export function settingsRows(table: SettingsTable): SettingsRow[] {
  return SETTING_NAMES.map((name) => SETTINGS[name] as Setting)
    .filter((setting) => (table === 'local' ? setting.local !== undefined && setting.env : setting.context))
    .map((setting) => ({
      name: `\`${table === 'local' ? setting.env : setting.context}\``,
      default: defaultCell(setting, table),
      doc: fill(`${setting.doc}${(table === 'local' ? setting.local : setting.deploy)?.note ?? ''}`, setting, table),
    }));
}

/** The table as Markdown lines, header included. */
export function settingsTable(table: SettingsTable): string[] {
  return [...HEADERS[table], ...settingsRows(table).map((row) => `| ${row.name} | ${row.default} | ${row.doc} |`)];
}

/** The lines of the first table after `heading` in `markdown`, and where they are. */
export function findTable(markdown: string, heading: string): { lines: string[]; start: number } {
  const all = markdown.split('\n');
  const at = all.indexOf(heading);
  if (at < 0) throw new Error(`The README has no heading "${heading}".`);
  const start = all.findIndex((line, index) => index > at && line.startsWith('|'));
  let end = start;
  while (end < all.length && all[end]!.startsWith('|')) end++;
  return { lines: all.slice(start, end), start };
}

/** The cells of a table row (`\|` inside a cell is not a separator). */
export function cellsOf(line: string): string[] {
  return line
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim());
}

function defaultCell(setting: Setting, table: SettingsTable): string {
  const text = (table === 'local' ? setting.local : setting.deploy)?.default;
  if (text !== undefined) return text;
  const value = setting.default;
  if (value === undefined || (Array.isArray(value) && value.length === 0)) {
    throw new Error(`${setting.env ?? setting.context} has no default value: its README row must say what unset means.`);
  }
  return `\`${Array.isArray(value) ? value.join(',') : typeof value === 'number' ? inUnit(value, setting, table) : String(value)}\``;
}

/** `{min}`, `{max}` (in the table's unit) and `{values}` (`a`, `b` or `c`). */
function fill(text: string, setting: Setting, table: SettingsTable): string {
  return text.replace(/\{(min|max|values)\}/g, (_, field: 'min' | 'max' | 'values') => {
    if (field === 'values') {
      const values = 'values' in setting ? (setting.values ?? []) : [];
      const quoted = values.map((value) => `\`${value}\``);
      return quoted.length < 2 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
    }
    const bound = setting.type === 'number' ? setting[field] : undefined;
    if (bound === undefined) throw new Error(`${setting.env ?? setting.context}'s doc names {${field}}, which it does not have.`);
    return grouped(inUnit(bound, setting, table));
  });
}

/** A value of the catalogue (seconds for a duration) in the unit of the table's name for it. */
function inUnit(value: number, setting: Setting, table: SettingsTable): number {
  const unit = table === 'deploy' && setting.type === 'number' ? setting.contextIn : undefined;
  return unit ? value / CONTEXT_UNIT_SECONDS[unit] : value;
}

/** Large numbers with thousands separators (`2,000,000,000`), small ones as they are (`3600`). */
function grouped(value: number): string {
  return value >= 10_000 ? value.toLocaleString('en-US') : String(value);
}

/** Rewrites the README's two tables from the catalogue. */
function writeReadme(path: string): void {
  let markdown = readFileSync(path, 'utf8');
  for (const table of ['local', 'deploy'] as const) {
    const { lines, start } = findTable(markdown, TABLE_HEADINGS[table]);
    const all = markdown.split('\n');
    all.splice(start, lines.length, ...settingsTable(table));
    markdown = all.join('\n');
  }
  writeFileSync(path, markdown);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const readme = fileURLToPath(new URL('../README.md', import.meta.url));
  writeReadme(readme);
  console.log(`Wrote the settings tables of ${readme}.`);
}
