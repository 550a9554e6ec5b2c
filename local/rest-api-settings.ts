/**
 * What the local API front needs to know of the REST API, read from the synthesized template: the stage's
 * name (it is in `requestContext.path`), its throttle, and the integration timeout. Pure: no I/O.
 */
import { findResources, type Template } from './template.ts';

export interface RestApiSettings {
  stageName: string;
  /** The stage's default throttle (method settings for `/*` and `*`): requests a second, and the burst. */
  throttle: { rateLimit: number; burstLimit: number };
  /** How long API Gateway waits for the integration before it answers 504. */
  integrationTimeoutMs: number;
}

export function restApiSettingsFromTemplate(template: Template): RestApiSettings {
  const stages = findResources(template, 'AWS::ApiGateway::Stage');
  if (stages.length !== 1) throw new Error(`Expected one AWS::ApiGateway::Stage in the template, found ${stages.length}.`);
  const stage = stages[0]![1].Properties ?? {};
  const defaults = ((stage.MethodSettings ?? []) as any[]).find((s) => s.ResourcePath === '/*' && s.HttpMethod === '*');
  if (typeof stage.StageName !== 'string' || defaults?.ThrottlingRateLimit === undefined || defaults?.ThrottlingBurstLimit === undefined) {
    throw new Error('The stage needs a literal name and a default throttle (method settings for /* and *) to run locally.');
  }
  const timeouts = new Set(
    findResources(template, 'AWS::ApiGateway::Method').map(([, method]) => Number(method.Properties?.Integration?.TimeoutInMillis ?? 29_000)),
  );
  if (timeouts.size !== 1) throw new Error(`Every method must have the same integration timeout to run locally, not ${[...timeouts].join(', ')} ms.`);
  return {
    stageName: stage.StageName,
    throttle: { rateLimit: Number(defaults.ThrottlingRateLimit), burstLimit: Number(defaults.ThrottlingBurstLimit) },
    integrationTimeoutMs: [...timeouts][0]!,
  };
}

/**
 * API Gateway's throttle: a token bucket holding `burstLimit` requests, refilled at `rateLimit` a second.
 * A request finding it empty is refused (429). Exact, where API Gateway's is best-effort: at least as strict.
 */
export class TokenBucket {
  readonly #rate: number;
  readonly #capacity: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  constructor(settings: { rateLimit: number; burstLimit: number }, now: () => number) {
    this.#rate = settings.rateLimit;
    this.#capacity = settings.burstLimit;
    this.#now = now;
    this.#tokens = settings.burstLimit;
    this.#at = now();
  }

  take(): boolean {
    const now = this.#now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + (Math.max(0, now - this.#at) / 1000) * this.#rate);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
