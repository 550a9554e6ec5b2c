/**
 * `npm start`'s upstream settings from the environment: LUMA_MODEL, LUMA_RESOLUTION, LUMA_DURATION,
 * ALLOWED_MODELS, ALLOWED_RESOLUTIONS, ALLOWED_DURATIONS and UPSTREAM_RESUBMITS. Checked here, before
 * anything starts, so that a mistake names the variable; the synth checks them again, together with
 * cdk.json's context, as it would for a deploy.
 */
import type { LocalGatewayOptions } from './gateway.ts';
import { offerSettingsFromEnv, parseGenerationOffer } from '../functions/commons/domain/luma-options.ts';
import { MAX_UPSTREAM_RESUBMITS } from '../functions/commons/config.ts';

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
