/**
 * What the local API front needs to know of the REST API, read from the synthesized template: the stage's
 * name (it is in `requestContext.path`), its throttle, the integration timeout and the binary media types.
 * Pure: no I/O.
 */
import { findResources, type Template } from './cloudformation-intrinsics.ts';

export interface RestApiSettings {
  stageName: string;
  /** The stage's default throttle (method settings for `/*` and `*`): requests a second, and the burst. */
  throttle: { rateLimit: number; burstLimit: number };
  /** How long API Gateway waits for the integration before it answers 504. */
  integrationTimeoutMs: number;
  /**
   * The REST API's binary media types: a request whose Content-Type matches one reaches a proxy integration
   * Base64-encoded (`isBase64Encoded: true`), any other as text. @default none
   */
  binaryMediaTypes?: readonly string[];
  /** The REST API's customised gateway responses, by type (`THROTTLED`, `DEFAULT_4XX`, …). @default none */
  gatewayResponses?: Readonly<Record<string, GatewayResponseSetting>>;
}

/** A customised gateway response: what API Gateway answers instead of its default `{"message": …}`. */
export interface GatewayResponseSetting {
  /** Unset: the status API Gateway chose. */
  status?: number;
  /** Static headers (the template's single-quoted values, unquoted). */
  headers: Record<string, string>;
  /** The `application/json` template; unset: API Gateway's default body. */
  template?: string;
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
  const apis = findResources(template, 'AWS::ApiGateway::RestApi');
  if (apis.length !== 1) throw new Error(`Expected one AWS::ApiGateway::RestApi in the template, found ${apis.length}.`);
  const binaryMediaTypes = (apis[0]![1].Properties?.BinaryMediaTypes ?? []) as unknown[];
  if (!binaryMediaTypes.every((type) => typeof type === 'string')) throw new Error('The REST API\'s binary media types must be literal strings to run locally.');
  return {
    binaryMediaTypes: binaryMediaTypes as string[],
    gatewayResponses: gatewayResponsesFromTemplate(template),
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

/**
 * Whether API Gateway passes a body of this Content-Type Base64-encoded: it matches a binary media type
 * exactly (parameters aside, without case) or through a wildcard (`image/*`, `*\/*`). A request without a
 * Content-Type is taken as `application/json`, as API Gateway does.
 */
export function isBinaryMediaType(contentType: string | undefined, binaryMediaTypes: readonly string[]): boolean {
  const [type = '', subtype = ''] = (contentType?.split(';')[0]?.trim().toLowerCase() || 'application/json').split('/');
  return binaryMediaTypes.some((entry) => {
    const [wantedType, wantedSubtype] = entry.toLowerCase().split('/');
    return (wantedType === '*' || wantedType === type) && (wantedSubtype === '*' || wantedSubtype === subtype);
  });
}

function gatewayResponsesFromTemplate(template: Template): Record<string, GatewayResponseSetting> {
  const responses: Record<string, GatewayResponseSetting> = {};
  for (const [id, resource] of findResources(template, 'AWS::ApiGateway::GatewayResponse')) {
    const properties = resource.Properties ?? {};
    const headers: Record<string, string> = {};
    for (const [parameter, value] of Object.entries(properties.ResponseParameters ?? {})) {
      const name = /^gatewayresponse\.header\.(.+)$/.exec(parameter)?.[1];
      const literal = typeof value === 'string' ? /^'(.*)'$/s.exec(value)?.[1] : undefined;
      // Values taken from the request (method.request.…) are not played locally: refuse rather than drop them.
      if (!name || literal === undefined) throw new Error(`Gateway response ${id}: only static headers can run locally, not ${parameter}.`);
      headers[name] = literal;
    }
    const templates = properties.ResponseTemplates ?? {};
    const extra = Object.keys(templates).filter((type) => type !== 'application/json');
    if (extra.length > 0) throw new Error(`Gateway response ${id}: only an application/json template can run locally, not ${extra.join(', ')}.`);
    const template = templates['application/json'];
    const unknown = typeof template === 'string' ? template.match(/\$(?!context\.(?:requestId|error\.messageString|error\.responseType)\b)[^\s"]*/) : null;
    if (unknown) throw new Error(`Gateway response ${id}: the template's ${unknown[0]} cannot be rendered locally.`);
    responses[String(properties.ResponseType)] = {
      status: properties.StatusCode === undefined ? undefined : Number(properties.StatusCode),
      headers,
      template,
    };
  }
  return responses;
}

/** What API Gateway itself decided to answer: the response type, its status and message. */
export interface GatewayAnswer {
  type: string;
  status: number;
  message: string;
}

/**
 * The answer API Gateway sends for `answer`: the type's customised response, else the DEFAULT_4XX or
 * DEFAULT_5XX one (a status it sets applies), else API Gateway's default `{"message": …}`.
 */
export function renderGatewayResponse(
  answer: GatewayAnswer,
  requestId: string,
  responses: Readonly<Record<string, GatewayResponseSetting>> = {},
): { status: number; headers: Record<string, string>; body: string } {
  const custom = responses[answer.type] ?? responses[answer.status < 500 ? 'DEFAULT_4XX' : 'DEFAULT_5XX'];
  const body =
    custom?.template === undefined
      ? JSON.stringify({ message: answer.message })
      : custom.template
          .replaceAll('$context.requestId', requestId)
          .replaceAll('$context.error.messageString', JSON.stringify(answer.message))
          .replaceAll('$context.error.responseType', answer.type);
  return { status: custom?.status ?? answer.status, headers: { 'content-type': 'application/json', ...custom?.headers }, body };
}
