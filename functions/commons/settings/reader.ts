/**
 * Reads settings of the catalogue from where they are written: an environment (the functions', `npm
 * start`'s) or the CDK context. One number check for all of them, so that a bound and its message are
 * the same wherever a value is read. Pure: the caller hands in the values.
 */
import { SETTINGS, type Bounds, type NumberSetting, type Setting, type SettingName, type SettingsOfType } from './catalogue.ts';

/** A setting's value is wrong; the message names the setting as its reader was told to. */
export class SettingError extends Error {
  override name = 'SettingError';
}

/** Which bounds a number is held to: the deployment's, the looser ones the functions accept, or none (only a number). */
export type Check = 'deployment' | 'runtime' | 'number';

type NumberName = SettingsOfType<'number'>;
type TextName = SettingsOfType<'string' | 'choice'>;
type ChoiceName = SettingsOfType<'choice'>;
type ListName = SettingsOfType<'list'>;
type BooleanName = SettingsOfType<'boolean'>;

/** A decimal (`12`, `-1.5`, `.5`, `1e3`): no hex, no `Infinity`, nothing `Number()` would read as 0. */
const DECIMAL = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;
/** A whole number is written out in digits (`1000`, not `1e3`). */
const DIGITS = /^[-+]?\d+$/;

/** What `bounds` allow, as messages say it: "a whole number of seconds from 1 to 3600", "from 1 minute to 168 hours". */
export function describeBounds({ integer, min, above, max, unit, duration, why }: Bounds): string {
  const format = (value: number) => (duration ? durationText(value) : String(value));
  const kind = duration ? '' : `${integer ? 'a whole number' : 'a number'}${unit ? ` of ${unit}` : ''}`;
  let text = kind;
  if (min !== undefined && max !== undefined) text = `${kind} from ${format(min)} to ${format(max)}`;
  else if (above !== undefined) text = `${kind} above ${format(above)}`;
  else if (min !== undefined) text = kind ? `${kind}, at least ${format(min)}` : `at least ${format(min)}`;
  else if (max !== undefined) text = kind ? `${kind}, at most ${format(max)}` : `at most ${format(max)}`;
  return `${text.trim()}${why ? ` (${why})` : ''}`;
}

/** Why `value` is not within `bounds`, naming it `label` and showing it as `shown`; undefined when it is. */
export function numberProblem(bounds: Bounds, value: number, label: string, shown = String(value)): string | undefined {
  const { integer, min, above, max } = bounds;
  const fits =
    Number.isFinite(value) &&
    (!integer || Number.isSafeInteger(value)) &&
    (min === undefined || value >= min) &&
    (above === undefined || value > above) &&
    (max === undefined || value <= max);
  return fits ? undefined : `${label} must be ${describeBounds(bounds)}, not ${shown}.`;
}

/**
 * A number as an operator wrote it (text, or a number in cdk.json): undefined when unset or blank; throws
 * a SettingError naming `label` when it is not a number within `bounds`.
 */
export function parseNumber(raw: unknown, label: string, bounds: Bounds = {}): number | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === 'number') return checked(bounds, raw, label);
  const text = String(raw).trim();
  if (text === '') return undefined;
  const readable = (bounds.integer ? DIGITS : DECIMAL).test(text);
  return checked(bounds, readable ? Number(text) : Number.NaN, label, `"${text}"`);
}

/** Within the deployment's bounds of setting `name`, or a SettingError naming it `label` (its context key by default). */
export function checkSetting(name: NumberName, value: number, label: string = settingOf(name).context ?? name, shown?: string): number {
  return checked(boundsOf(name, 'deployment'), value, label, shown);
}

/** The bounds a check holds setting `name` to. */
export function boundsOf(name: NumberName, check: Check): Bounds {
  const setting = settingOf(name) as NumberSetting;
  if (check === 'number') return {};
  return check === 'runtime' && setting.runtime ? setting.runtime : setting;
}

function checked(bounds: Bounds, value: number, label: string, shown?: string): number {
  const problem = numberProblem(bounds, value, label, shown);
  if (problem) throw new SettingError(problem);
  return value;
}

/** A setting as its general type. */
export function settingOf(name: SettingName): Setting {
  return SETTINGS[name];
}

/** `3600` → `1 hour`, `90` → `90 seconds`. */
function durationText(seconds: number): string {
  const [amount, unit] = seconds % 3600 === 0 ? [seconds / 3600, 'hour'] : seconds % 60 === 0 ? [seconds / 60, 'minute'] : [seconds, 'second'];
  return `${amount} ${unit}${amount === 1 ? '' : 's'}`;
}

/**
 * Settings as written in one place: an environment, by their variables, or the CDK context, by their keys.
 * Every read returns undefined for an unset or empty setting; `defaultOf` gives the catalogue's default.
 */
export class SettingsReader {
  /** `label` names a variable in messages: `Environment variable X` for the functions, `X` for `npm start`. */
  static env(env: Readonly<Record<string, string | undefined>>, label: (key: string) => string = (key) => key): SettingsReader {
    return new SettingsReader((key) => env[key], 'env', label);
  }

  /** `get` is the app's context lookup (`app.node.tryGetContext`); messages say `Context <key>`. */
  static context(get: (key: string) => unknown): SettingsReader {
    return new SettingsReader(get, 'context', (key) => `Context ${key}`);
  }

  private constructor(
    private readonly get: (key: string) => unknown,
    readonly via: 'env' | 'context',
    private readonly labelOf: (key: string) => string,
  ) {}

  /** The setting's environment variable or context key, whichever this reader reads. */
  key(name: SettingName): string {
    const setting = settingOf(name);
    const key = this.via === 'env' ? setting.env : setting.context;
    if (!key) throw new Error(`Setting ${name} has no ${this.via === 'env' ? 'environment variable' : 'context key'}.`);
    return key;
  }

  label(name: SettingName): string {
    return this.labelOf(this.key(name));
  }

  /** As written; undefined when unset, null or empty. */
  raw(name: SettingName): unknown {
    const value = this.get(this.key(name));
    return value === undefined || value === null || value === '' ? undefined : value;
  }

  number(name: NumberName, check: Check = 'deployment'): number | undefined {
    return parseNumber(this.raw(name), this.label(name), boundsOf(name, check));
  }

  text(name: TextName): string | undefined {
    const value = this.raw(name);
    return value === undefined ? undefined : String(value);
  }

  /** One of the setting's values, or a SettingError naming them. */
  choice<N extends ChoiceName>(name: N): (typeof SETTINGS)[N]['values'][number] | undefined {
    const value = this.text(name)?.trim() || undefined;
    const values: readonly string[] = SETTINGS[name].values;
    if (value === undefined || values.includes(value)) return value as (typeof SETTINGS)[N]['values'][number] | undefined;
    throw new SettingError(`${this.label(name)} must be one of ${values.join(', ')}, not "${value.slice(0, 50)}".`);
  }

  /** A setting the functions cannot run without: a SettingError `<label> is not set.` when missing. */
  required(name: TextName): string {
    const value = this.text(name);
    if (value === undefined) throw new SettingError(`${this.label(name)} is not set.`);
    return value;
  }

  /** Entries of a list (in cdk.json an array, otherwise separated by commas), trimmed, blanks dropped. */
  list(name: ListName): string[] | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    return (Array.isArray(value) ? value.map(String) : String(value).split(',')).map((item) => item.trim()).filter(Boolean);
  }

  /** `true`/`false`, from cdk.json or as text. */
  boolean(name: BooleanName): boolean | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    if (value === true || value === 'true') return true;
    if (value === false || value === 'false') return false;
    throw new SettingError(`${this.label(name)} must be true or false, not "${String(value)}".`);
  }
}

type Defaults = { [N in SettingName]: (typeof SETTINGS)[N] extends { default: infer D } ? D : undefined };

/** The catalogue's default of setting `name` (undefined where the setting has none). */
export function defaultOf<N extends SettingName>(name: N): Defaults[N] {
  return (SETTINGS[name] as { default?: unknown }).default as Defaults[N];
}

type EnvName = { [N in SettingName]: (typeof SETTINGS)[N] extends { env: string } ? N : never }[SettingName];

/**
 * Settings as a function's environment: each value under its variable (lists joined by commas), unset ones
 * left out. The CDK app builds every function's environment with it.
 */
export function settingsEnvironment(values: { [N in EnvName]?: string | number | boolean | readonly string[] }): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const [name, value] of Object.entries(values) as [EnvName, unknown][]) {
    if (value === undefined) continue;
    environment[SETTINGS[name].env] = Array.isArray(value) ? value.join(',') : String(value);
  }
  return environment;
}
