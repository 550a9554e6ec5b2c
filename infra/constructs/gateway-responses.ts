/**
 * What API Gateway answers itself, in the API's error shape. A few requests never reach the function: the
 * stage's throttle refuses them, the function takes longer than the integration timeout, the invocation
 * fails, or Lambda refuses the event as larger than its 6 MB. API Gateway then answers with a "gateway
 * response", `{"message": "…"}` by default; each type used here is customised to
 * `{"error": {"code", "message", "details": {"request_id"}}}`, as the function answers.
 *
 * Which type is which, from AWS's documentation and answers captured from deployed APIs:
 * - THROTTLED: the stage's (or account's) throttle, 429.
 * - INTEGRATION_TIMEOUT: no answer within the integration timeout (29 s), 504.
 * - INTEGRATION_FAILURE: the invocation failed (a function error, an answer over 6 MB, a Lambda throttle);
 *   answered 500 or 502 by default although its documented default is 504, so the status is set: 502.
 * - REQUEST_TOO_LARGE (413): AWS documents no type for Lambda refusing the event (Invoke's 413,
 *   RequestEntityTooLargeException); a deployed REST API was seen answering 413 `{"message": "Request Too
 *   Long"}` with `x-amzn-ErrorType: BadRequestException` (koki-develop/lgtm-generator#10), the default
 *   gateway-response form of a 4xx, so the type customised for it is REQUEST_TOO_LARGE, with DEFAULT_4XX as
 *   the fallback in case it is another 4xx type. A body over API Gateway's 10 MB is refused earlier, before
 *   any gateway response (413 with the text `HTTP content length exceeded 10485760 bytes.`); AWS's guide says
 *   that answer cannot be customised, and reports agree (reapit/foundations#4338): it stays as it is.
 * - DEFAULT_4XX, DEFAULT_5XX: every other type, keeping its own status and API Gateway's message.
 *
 * local/api-front.ts plays these from the synthesized template, so `npm start` answers the same.
 */
import { ResponseType, type RestApi } from 'aws-cdk-lib/aws-apigateway';
import { describeBytes, MAX_BODY_BYTES, MAX_INLINE_KEYFRAME_BYTES } from '../../functions/commons/domain/payload-limits.ts';

export interface GatewayResponseSpec {
  /** API Gateway's response type. */
  readonly type: string;
  /** The status to answer with; unset keeps the one API Gateway chose (only for the DEFAULT_ types). */
  readonly status?: number;
  readonly code: string;
  /** A fixed message, or unset for API Gateway's own (`$context.error.messageString`). */
  readonly message?: string;
  /** Static headers (besides Content-Type). */
  readonly headers?: Readonly<Record<string, string>>;
}

export const GATEWAY_RESPONSES: readonly GatewayResponseSpec[] = [
  {
    type: 'REQUEST_TOO_LARGE',
    status: 413,
    code: 'payload_too_large',
    message:
      `The request is too large for this API: it takes at most ${describeBytes(MAX_BODY_BYTES)} of body. ` +
      `A keyframe over ${describeBytes(MAX_INLINE_KEYFRAME_BYTES)} is uploaded first: POST /luma/uploads.`,
  },
  {
    type: 'THROTTLED',
    status: 429,
    code: 'rate_limited',
    message: 'The gateway is receiving more requests than it serves, from all clients together. Retry after a second.',
    headers: { 'retry-after': '1' },
  },
  {
    type: 'INTEGRATION_TIMEOUT',
    status: 504,
    code: 'gateway_timeout',
    message:
      'The gateway did not answer in time; the request may or may not have taken effect. Retry with the same Idempotency-Key to find out safely.',
  },
  {
    type: 'INTEGRATION_FAILURE',
    status: 502,
    code: 'internal',
    message: 'The gateway failed to serve the request. Quote its request id when reporting it.',
  },
  { type: 'DEFAULT_4XX', code: 'request_refused' },
  { type: 'DEFAULT_5XX', code: 'internal' },
];

/**
 * The response template: `$context.error.messageString` is API Gateway's message already quoted as a JSON
 * string; the request id is an id API Gateway makes (letters, digits and dashes).
 */
export function gatewayResponseTemplate(spec: GatewayResponseSpec): string {
  const message = spec.message === undefined ? '$context.error.messageString' : JSON.stringify(spec.message);
  return `{"error":{"code":${JSON.stringify(spec.code)},"message":${message},"details":{"request_id":"$context.requestId"}}}`;
}

export interface GatewayResponseOptions {
  /**
   * A browser origin every gateway response names in `Access-Control-Allow-Origin` (static: a gateway response
   * cannot choose among several origins per request, so with several allowed origins none is named).
   */
  readonly corsOrigin?: string;
}

/** Adds every gateway response of the catalogue to the REST API. */
export function addGatewayResponses(restApi: RestApi, options: GatewayResponseOptions = {}): void {
  for (const spec of GATEWAY_RESPONSES) {
    const headers: Record<string, string> = { 'cache-control': 'no-store', ...spec.headers };
    if (options.corsOrigin) Object.assign(headers, { 'access-control-allow-origin': options.corsOrigin, vary: 'Origin' });
    restApi.addGatewayResponse(spec.type, {
      type: ResponseType.of(spec.type),
      statusCode: spec.status === undefined ? undefined : String(spec.status),
      // Static values are quoted in single quotes (API Gateway's notation for a literal).
      responseHeaders: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, `'${value}'`])),
      templates: { 'application/json': gatewayResponseTemplate(spec) },
    });
  }
}
