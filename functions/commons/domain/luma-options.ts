/**
 * The choices the Luma Dream Machine API offers per generation, and the operator's say over them: for
 * model, resolution and duration a deployment default and a list of values clients may ask for. The values,
 * defaults and setting names come from the settings catalogue (settings/catalogue.ts); the request schema,
 * the settings, the Luma client and the README derive from them. Luma's defaults are undocumented and
 * decide quality and cost, so the gateway always sends its own.
 */
import { SETTINGS } from '../settings/catalogue.ts';

export const LUMA_MODELS = SETTINGS.upstreamModel.values;
export const LUMA_RESOLUTIONS = SETTINGS.upstreamResolution.values;
export const LUMA_DURATIONS = SETTINGS.upstreamDuration.values;
/** The aggregator's five ratios first, then the two Luma added (cinema widescreen and its portrait). */
export const LUMA_ASPECT_RATIOS = ['1:1', '4:3', '3:4', '16:9', '9:16', '21:9', '9:21'] as const;

export type LumaModel = (typeof LUMA_MODELS)[number];
export type LumaResolution = (typeof LUMA_RESOLUTIONS)[number];
export type LumaDuration = (typeof LUMA_DURATIONS)[number];
export type AspectRatio = (typeof LUMA_ASPECT_RATIOS)[number];

type ChoiceSetting = { values: readonly string[]; default: string; env: string; context: string };

/** A choice from two settings of the catalogue: its default, and the list of values a request may ask for. */
function option<const D extends ChoiceSetting, const A extends { env: string; context: string }>(chosen: D, allowed: A) {
  return {
    values: chosen.values as D['values'],
    fallback: chosen.default as D['default'],
    env: chosen.env,
    allowedEnv: allowed.env,
    context: chosen.context,
    allowedContext: allowed.context,
  };
}

/**
 * Each operator-controlled choice: the values Luma knows, the default when the operator sets none, and
 * how the operator names the default and the allowed list in the functions' (and `npm start`'s)
 * environment and in the CDK context.
 */
export const GENERATION_OPTIONS = {
  model: option(SETTINGS.upstreamModel, SETTINGS.allowedModels),
  resolution: option(SETTINGS.upstreamResolution, SETTINGS.allowedResolutions),
  duration: option(SETTINGS.upstreamDuration, SETTINGS.allowedDurations),
} as const;

export type GenerationOptionName = keyof typeof GENERATION_OPTIONS;
export const GENERATION_OPTION_NAMES = Object.keys(GENERATION_OPTIONS) as GenerationOptionName[];
type ValueOf<K extends GenerationOptionName> = (typeof GENERATION_OPTIONS)[K]['values'][number];

/** One value per choice: what a task is generated with. */
export type GenerationChoices = { [K in GenerationOptionName]: ValueOf<K> };

/** What this deployment offers: per choice, its default and the values clients may ask for (in Luma's order). */
export type GenerationOffer = { [K in GenerationOptionName]: { default: ValueOf<K>; allowed: readonly ValueOf<K>[] } };

/** Luma's whole range, with the catalogue's defaults: what a deployment offers unless its operator says otherwise. */
export const FULL_OFFER: GenerationOffer = {
  model: { default: GENERATION_OPTIONS.model.fallback, allowed: LUMA_MODELS },
  resolution: { default: GENERATION_OPTIONS.resolution.fallback, allowed: LUMA_RESOLUTIONS },
  duration: { default: GENERATION_OPTIONS.duration.fallback, allowed: LUMA_DURATIONS },
};

/** The settings as the operator wrote them: a default and an allowed list (comma-separated, or a list) per choice. */
export type RawOfferSettings = Partial<Record<GenerationOptionName, { default?: unknown; allowed?: unknown }>>;

/** Environment variables (`LUMA_RESOLUTION`) or CDK context keys (`upstreamResolution`): the names messages use. */
export type SettingNames = 'env' | 'context';

/**
 * Checks the operator's settings and returns the offer. Throws an Error naming the setting and the values
 * it may take when a value is unknown to Luma, an allowed list is empty, or the default is not allowed:
 * a deployment that would send every task to a 400 fails when it is synthesized or started instead.
 * Unset or empty settings mean the catalogue's default and everything Luma offers.
 */
export function parseGenerationOffer(raw: RawOfferSettings, names: SettingNames): GenerationOffer {
  return {
    model: parseChoice('model', raw.model, names),
    resolution: parseChoice('resolution', raw.resolution, names),
    duration: parseChoice('duration', raw.duration, names),
  };
}

function parseChoice<K extends GenerationOptionName>(
  name: K,
  raw: { default?: unknown; allowed?: unknown } | undefined,
  names: SettingNames,
): GenerationOffer[K] {
  const option = GENERATION_OPTIONS[name];
  const values: readonly string[] = option.values;
  const defaultName = names === 'env' ? option.env : option.context;
  const allowedName = names === 'env' ? option.allowedEnv : option.allowedContext;
  const oneOf = values.join(', ');

  const rawDefault = raw?.default === undefined || raw.default === null ? '' : String(raw.default).trim();
  if (rawDefault && !values.includes(rawDefault)) {
    throw new Error(`${defaultName} must be one of ${oneOf}, not "${rawDefault.slice(0, 50)}".`);
  }
  const entries = listOf(raw?.allowed);
  let allowed = values;
  if (entries !== undefined) {
    const unknown = entries.find((entry) => !values.includes(entry));
    if (unknown !== undefined) throw new Error(`${allowedName} may list only ${oneOf}; "${unknown.slice(0, 50)}" is not one of them.`);
    if (entries.length === 0) throw new Error(`${allowedName} must list at least one of ${oneOf}, or be unset to allow them all.`);
    allowed = values.filter((value) => entries.includes(value));
  }
  const chosen = rawDefault || option.fallback;
  if (!allowed.includes(chosen)) {
    const which = rawDefault ? `${defaultName} ${chosen}` : `The default ${name} ${chosen} (${defaultName} is unset)`;
    throw new Error(`${which} is not among ${allowedName} (${allowed.join(', ')}): set ${defaultName} to one of them.`);
  }
  return { default: chosen, allowed } as unknown as GenerationOffer[K];
}

/** `undefined` when unset (everything allowed); otherwise the trimmed, non-empty entries. */
function listOf(value: unknown): string[] | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const items = Array.isArray(value) ? value.map(String) : String(value).split(',');
  return items.map((item) => item.trim()).filter(Boolean);
}

/** The deployment's defaults as environment variables (every function that submits reads them back). */
export function defaultChoicesEnvironment(offer: GenerationOffer): Record<string, string> {
  return Object.fromEntries(GENERATION_OPTION_NAMES.map((name) => [GENERATION_OPTIONS[name].env, offer[name].default]));
}

/** The values clients may ask for, as environment variables (only what admits requests needs them). */
export function allowedChoicesEnvironment(offer: GenerationOffer): Record<string, string> {
  return Object.fromEntries(GENERATION_OPTION_NAMES.map((name) => [GENERATION_OPTIONS[name].allowedEnv, offer[name].allowed.join(',')]));
}

/** The raw settings found in an environment (`process.env`, or `npm start`'s). */
export function offerSettingsFromEnv(env: Record<string, string | undefined>): RawOfferSettings {
  const raw: RawOfferSettings = {};
  for (const name of GENERATION_OPTION_NAMES) {
    raw[name] = { default: env[GENERATION_OPTIONS[name].env], allowed: env[GENERATION_OPTIONS[name].allowedEnv] };
  }
  return raw;
}

/** The task's choices: the client's where it made one, else the deployment's default. */
export function effectiveChoices(asked: Partial<GenerationChoices>, offer: GenerationOffer): GenerationChoices {
  return {
    model: asked.model ?? offer.model.default,
    resolution: asked.resolution ?? offer.resolution.default,
    duration: asked.duration ?? offer.duration.default,
  };
}
