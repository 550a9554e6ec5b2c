/**
 * How large a request may be, in one place, with the arithmetic that makes every body we accept reach the
 * API function. The API (http.ts, the request schema, the upload route), the infra (the REST API's binary
 * media types, its gateway responses), the local runtime (its Lambda limit) and the README read these.
 *
 * The binding limit is Lambda's, not API Gateway's: a synchronous invocation carries at most 6 MB of
 * request, and that is the whole event JSON (body, headers twice, path, query, request context), not the
 * body. API Gateway's own 10 MB limit is on the body alone. A body that passes our checks but makes an event
 * over 6 MB is refused by Lambda before our code runs, with an answer that is not ours: so the body limit
 * is set below what the event can carry, and a larger body gets our 413.
 *
 * The body arrives Base64-encoded: the REST API declares every media type binary (`binaryMediaTypes:
 * ["*\/*"]`), so a body of n bytes is exactly 4⌈n/3⌉ bytes of event, whatever it holds. As text, the body
 * would be JSON-escaped into the event instead: `"` and `\` take two bytes, a control character six
 * (`\u0001`), and a byte that is not UTF-8 three (U+FFFD), so a hostile 1.1 MB body of control characters
 * would make a 6.6 MB event, and no body limit below 10 MB could be both useful and safe.
 */

/**
 * Lambda, synchronous invocation: "the maximum payload size is 6 MB" for the request and for the response
 * (Invoke API reference); AWS's request check is 6,291,456 bytes ("Request must be smaller than 6291456
 * bytes for the InvokeFunction operation").
 */
export const LAMBDA_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024;

/**
 * API Gateway REST API: "Payload size 10 MB", not adjustable; a larger body is refused before anything of
 * ours runs (see README, "Errors from API Gateway itself").
 */
export const API_GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024;

/**
 * What the event may need besides the body's Base64: a generous bound, not a measurement. API Gateway lets
 * through at most 10,240 bytes of header values and a 10,240-character URL (REST API quotas). The event
 * holds each header twice (`headers`, `multiValueHeaders`) and the URL's path up to three times and its query
 * twice, all JSON-escaped (at most 6 bytes per byte, for the control characters a percent-encoded URL can
 * carry): under 120 KiB of values in the worst case, plus header names and a request context of about 2
 * KiB. 512 KiB leaves that several times over.
 */
export const EVENT_ENVELOPE_BYTES = 512 * 1024;

/** The event bytes a body of `bytes` takes as Base64. */
export function base64Length(bytes: number): number {
  return 4 * Math.ceil(bytes / 3);
}

/**
 * The largest body the API accepts: its Base64 plus the envelope fits Lambda's request,
 * 4 × 4,325,376 / 3 + 524,288 = 5,767,168 + 524,288 = 6,291,456 bytes. A larger one is answered with our
 * 413 as long as its event still reaches the function (up to about 4.5 MiB, depending on the headers).
 */
export const MAX_BODY_BYTES = Math.floor((LAMBDA_SYNC_PAYLOAD_BYTES - EVENT_ENVELOPE_BYTES) / 4) * 3;

/**
 * What a request body needs besides its two keyframes' Base64: a 5,000-character prompt JSON-escaped at
 * worst (6 bytes a character, 30,000 bytes), two data URI headers (at most 262 characters each), the other
 * fields and the JSON around them. 128 KiB leaves that four times over.
 */
export const BODY_BESIDES_KEYFRAMES_BYTES = 128 * 1024;

/**
 * The decoded size of one inline (Base64) keyframe: two of them, as Base64, and the rest of a body fit the
 * body limit, 2 × 4 × 1,572,864 / 3 + 131,072 = 4,194,304 + 131,072 = 4,325,376 bytes. A larger image is
 * uploaded (POST /luma/uploads) and referenced.
 */
export const MAX_INLINE_KEYFRAME_BYTES = 1.5 * 1024 * 1024;

/** The most an uploaded keyframe may weigh: it never passes through API Gateway or a Lambda event. */
export const MAX_UPLOAD_BYTES = 20 * 1024 * 1024;

/** "4325376 bytes (4.125 MiB)": a limit as the API's messages name it. */
export function describeBytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return `${bytes} bytes (${Number.isInteger(mib * 1000) ? mib : mib.toFixed(2)} MiB)`;
}
