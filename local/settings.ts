/**
 * `npm start`'s settings from the environment. Upstream ones: LUMA_MODEL, LUMA_RESOLUTION, LUMA_DURATION,
 * ALLOWED_MODELS, ALLOWED_RESOLUTIONS, ALLOWED_DURATIONS and UPSTREAM_RESUBMITS. Checked here, before
 * anything starts, so that a mistake names the variable; the synth checks them again, together with
 * cdk.json's context, as it would for a deploy.
 */
import type { LocalGatewayOptions } from './gateway.ts';
import { offerSettingsFromEnv, parseGenerationOffer } from '../functions/commons/domain/luma-options.ts';
import { MAX_UPSTREAM_RESUBMITS } from '../functions/commons/config.ts';
import { parseAllowedOrigins } from '../functions/commons/domain/cors.ts';

export function upstreamSettingsFromEnv(
  env: Record<string, string | undefined>,
): Pick<LocalGatewayOptions, 'upstreamChoices' | 'upstreamResubmits'> {
  const upstreamChoices = offerSettingsFromEnv(env);
  parseGenerationOffer(upstreamChoices, 'env');
  const raw = env.UPSTREAM_RESUBMITS?.trim();
  if (!raw) return { upstreamChoices };
  const upstreamResubmits = Number(raw);
  if (!Number.isInteger(upstreamResubmits) || upstreamResubmits < 0 || upstreamResubmits > MAX_UPSTREAM_RESUBMITS) {
    throw new Error(`UPSTREAM_RESUBMITS must be a whole number from 0 to ${MAX_UPSTREAM_RESUBMITS}, not "${raw}".`);
  }
  return { upstreamChoices, upstreamResubmits };
}

/**
 * `npm start`'s limits at the edge: CLIENT_REQUESTS_PER_MINUTE and IP_REQUESTS_PER_MINUTE (the web ACL's rules),
 * API_RATE_LIMIT and API_BURST_LIMIT (the stage's throttle). Unset: the deployment's. They are synthesized as the
 * CDK context a deploy would take, which checks them (WAF's bounds) and names the setting.
 */
export function edgeLimitsFromEnv(env: Record<string, string | undefined>): Pick<LocalGatewayOptions, 'edgeLimits'> {
  const number = (name: string): number | undefined => {
    const raw = env[name]?.trim();
    if (!raw) return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new Error(`${name} must be a number, not "${raw}".`);
    return value;
  };
  return {
    edgeLimits: {
      requestsPerKey: number('CLIENT_REQUESTS_PER_MINUTE'),
      requestsPerAddress: number('IP_REQUESTS_PER_MINUTE'),
      rateLimit: number('API_RATE_LIMIT'),
      burstLimit: number('API_BURST_LIMIT'),
    },
  };
}

/**
 * CORS_ALLOWED_ORIGINS: browser origins, separated by commas, allowed to call the API and PUT uploads (as the
 * CDK context `corsAllowedOrigins`). Unset: the deployment's (none).
 */
export function corsFromEnv(env: Record<string, string | undefined>): Pick<LocalGatewayOptions, 'corsAllowedOrigins'> {
  const raw = env.CORS_ALLOWED_ORIGINS;
  if (raw === undefined || raw.trim() === '') return {};
  return { corsAllowedOrigins: parseAllowedOrigins(raw, 'CORS_ALLOWED_ORIGINS') };
}
