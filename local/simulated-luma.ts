/**
 * Simulated Luma Dream Machine API, used by `npm start` when no real upstream is
 * configured and by tests. It speaks the same HTTP API as
 * https://api.lumalabs.ai/dream-machine/v1 (the base URL is http://127.0.0.1:<port>),
 * so the gateway's Luma adapter cannot tell the difference. Where the real behaviour is not
 * documented, it does the stricter of the plausible things, and says so where it does.
 *
 * A generation's state is a pure function of the time since it was created:
 *   queued    for queuedSeconds   * timeScale
 *   dreaming  for dreamingSeconds * timeScale
 *   completed (or failed, see [sim:fail]) afterwards.
 * Deriving state from created_at, rather than running timers, is what lets
 * in-flight generations keep progressing across a restart when `stateFile` is set. Time is read from
 * `clock` (the system clock unless a test passes its own), so a test can walk a timeline step by step
 * or hold every generation where it is.
 *
 * What a Generation looks like: `created_at` has microseconds (`2025-05-16T18:53:39.062856Z`), and
 * `request` echoes the create body with Luma's defaults filled in (generation_type "video", aspect_ratio
 * "16:9", loop false, keyframes/callback_url/concepts null, resolution "720p" — Luma's real default is
 * undocumented — and duration "5s"); fields Luma does not know are not echoed.
 *
 * A shared account (otherClients, SIM_OTHER_CLIENTS=0|1, default 1). A Luma key is the account's: other
 * apps, the web app and other gateways create with it too, and GET /generations?limit&offset lists them
 * all, newest first (limit 100 by default and at most; above: 400). So at start (when the account holds
 * no other client's generation yet) it already has 20 completed generations other clients made during
 * the last hour, with common prompts: the README's, "A flamingo", "a cat playing piano", "hello world
 * video"…, some with keyframes (their own URLs, never fetched), without callback_url or with theirs.
 * And every create that comes through HTTP has a twin: another client's generation with the same
 * prompt, model, aspect_ratio, loop, resolution, duration and keyframes (present where ours are, with
 * their URLs), but without our callback_url (none, or theirs), created 1 ms before ours and following
 * a normal timeline whatever the [sim:…] directives say. A gateway that finds its generation in the
 * list by what the request says picks the stranger's; only callback_url is ours per request.
 * Other clients' generations are listed, persisted (`foreign: true`), called back, and deletable, but
 * they are not in `generations()` or `stats().creates` (`stats().foreignCreates` counts them), and they
 * do not take concurrencyLimit slots: on a real account they would — lowering SIM_MAX_CONCURRENT
 * simulates that. `addForeignGeneration()` adds one, for tests.
 *
 * Callbacks, like Luma's: for a generation with a callback_url, the Generation (exactly as GET renders
 * it at the instant of the change) is POSTed on each change to dreaming, completed and failed; 3 tries
 * `callbackRetryDelayMs` apart (default 100 ms, real time, not scaled: Luma's), 5 s each, unsigned,
 * Content-Type: application/json; a 2xx is success, a redirect is not followed. The timers are set at
 * create; after a restart from the state file, for the changes still to come only: those that happened
 * while the simulator was down are not sent late. close() cancels every timer and waits for the tries in
 * flight. `stats().callbacks`: sent (a 2xx came back), failed (all 3 tries failed), skipped (see below).
 *
 * Deterministic scenarios, selected by a directive anywhere in the prompt:
 *   [sim:fail]         created (201), then queued -> dreaming -> failed, failure_reason
 *                      "Contains blacklisted words".
 *   [sim:fail:<key>]   the same with another of Luma's reasons (LUMA_FAILURE_REASONS), verbatim:
 *                      blacklisted        "Contains blacklisted words"
 *                      frame_moderation   "Frame moderation failed"
 *                      prompt_moderation  "Advanced prompt moderation failed"
 *                      unreadable_frames  "Failed to read user input frames"
 *                      job_failed         "Job failed"
 *                      dispatch_error     "Error dispatching job"
 *                      Moderation is reported this way, as a failed generation, as Luma's docs describe;
 *                      an unknown key is no directive.
 *   [sim:reject]       the submit answers 400 {"detail":"Prompt moderation failed"} (the create-time path).
 *   [sim:busy:N]       the first N submits carrying that exact prompt answer 503
 *                      {"detail":"Service temporarily unavailable"}; the next one succeeds.
 *   [sim:lost:N]       the first N creates carrying that exact prompt are made upstream (stored, listed,
 *                      running, called back) but their answer is lost: the socket is destroyed without
 *                      a byte. The next one gets its 201.
 *   [sim:hang-created:N]  the same, but the request is held for hangMs * timeScale, then dropped (a
 *                      timeout after the create).
 *   [sim:fail-first:N] the first N generations carrying that exact prompt fail with "Job failed" (a fault
 *                      on Luma's side, which the gateway answers with a new submit); later ones complete.
 *   [sim:slow]         the dreaming phase lasts 100 times longer (deadline tests).
 *   [sim:hold-assets]  the video and thumbnail URLs answer only 60 s (times timeScale) after completion: a
 *                      request comes in and waits (`stats().assetsHeld` counts it), like a slow CDN; on a
 *                      frozen clock, until the test moves it. A download begun is answered to its end
 *                      even if the generation is deleted meanwhile (a CDN does not cut a transfer).
 * The per-prompt counts of [sim:busy:N], [sim:lost:N], [sim:hang-created:N] and [sim:fail-first:N] are
 * not persisted.
 *
 * Fault injection and an account-style concurrency limit, for load and chaos runs. Options, and the
 * `npm start` environment variables that set them (read by simulatedLumaFaultsFromEnv):
 *   SIM_FAULT_RATE      faultRate         0..1, default 0: the probability that a request gets an
 *                                         injected fault. Every submit, GET /generations/{id} and asset
 *                                         GET is eligible, [sim:…] prompts included; the kind is picked
 *                                         uniformly among the enabled kinds that apply to that request.
 *   SIM_FAULTS          faults            comma list of the kinds that may be injected, default all:
 *     submit_5xx        the submit answers 500, 502 or 503 {"detail":"Internal server error"}; nothing is created.
 *     submit_429        the submit answers 429 {"detail":"Rate limit exceeded"}, Retry-After: 1; nothing is created.
 *     submit_timeout    the submit gets no answer: it is held for hangMs * timeScale, then the connection
 *                       is dropped; nothing is created.
 *     submit_lost       the generation IS created (like [sim:lost:N]), and the socket is destroyed
 *                       without an answer.
 *     poll_5xx          GET /generations/{id} answers 500, 502 or 503 (the generation is unaffected).
 *     poll_429          GET /generations/{id} answers 429, Retry-After: 1 (the generation is unaffected).
 *     download_cut      an asset GET sends the headers with the full Content-Length and part of the body
 *                       (at least one byte, never all), then destroys the socket.
 *     download_garbage  an asset GET answers 200 Content-Type: text/html with an HTML page.
 *     generation_fail   decided at create time: the generation is created (201) but ends `failed`
 *                       with failure_reason "Job failed" or "Error dispatching job" (drawn).
 *   SIM_HANG_MS         hangMs            default 30000: how long submit_timeout and [sim:hang-created:N]
 *                                         hold a request (times timeScale; at timeScale 1 it outlasts a
 *                                         10 s client timeout).
 *   SIM_MAX_CONCURRENT  concurrencyLimit  integer >= 1, default unlimited: like Luma's account limit, a
 *                                         create while this many of our generations are queued or dreaming
 *                                         answers 429 {"detail":"Too many concurrent generations"},
 *                                         Retry-After: 1, and creates nothing.
 *   SIM_SEED            seed              integer, default random: seeds the PRNG (mulberry32) that decides
 *                                         every fault, so the same requests in the same order meet the same
 *                                         faults. The seed in use is `SimulatedLuma.seed`.
 *   SIM_OTHER_CLIENTS   otherClients      0 or 1, default 1: the shared account above.
 *   SIM_CALLBACKS       callbacks         0 or 1, default 1: the callbacks above; 0 sends none, as if every
 *                                         one were lost (for the gateway's polling alone).
 * DELETE /generations/{id} answers 204 for a completed or failed generation (it is gone: GET and a second
 * DELETE answer 404). Luma does not document what it does with one still queued or dreaming, so the
 * simulator does the stricter thing: 400 {"detail":"Generation is still in progress; …"}, and the
 * generation runs on to its end, in the concurrency limit meanwhile.
 *
 * A submit is handled in this order: body cap (413), injected transport fault (submit_5xx/429/timeout),
 * validation and [sim:reject]/[sim:busy:N], the concurrency limit, the create (with generation_fail, and
 * its twin), then the answer: sent, or lost/held ([sim:lost:N], [sim:hang-created:N], submit_lost).
 *
 * Deliberate differences from the real service, so that a simulated run never contacts any host other
 * than this machine: keyframe URLs are never fetched, and a callback_url whose host is not loopback
 * (127.0.0.0/8, `localhost`, `[::1]`) is never called — each callback it would have had is counted in
 * `stats().callbacks.skipped` (other clients' callback URLs included).
 *
 * The parts live in ./simulated-luma/: the API contract (contract.ts), the directives and a generation's
 * state over time (timeline.ts), faults (faults.ts), the state file (state-file.ts), the server (server.ts,
 * with its shared state in context.ts, its routes in generations.ts and assets.ts, its plumbing in
 * http.ts), callbacks (callbacks.ts) and the account's other clients (other-clients.ts). Everything
 * public is exported from here.
 */
export * from './simulated-luma/contract.ts';
export * from './simulated-luma/faults.ts';
export * from './simulated-luma/timeline.ts';
export { startSimulatedLuma, type SimulatedLuma, type SimulatedLumaOptions } from './simulated-luma/server.ts';
export type { SimClock, SimCreatedGeneration, SimRead, SimulatedLumaStats } from './simulated-luma/context.ts';
export type { ForeignGenerationOptions, ForeignGenerationRequest } from './simulated-luma/generations.ts';
export { CALLBACK_RETRY_DELAY_MS, CALLBACK_TIMEOUT_MS, CALLBACK_TRIES, isLoopbackUrl, type CallbackCounters } from './simulated-luma/callbacks.ts';
export { matchRoute, type RouteMatch } from './simulated-luma/http.ts';
export { OTHER_CLIENT_CALLBACK_URL, OTHER_CLIENT_FRAME_URLS, OTHER_CLIENTS_HISTORY, README_PROMPT } from './simulated-luma/other-clients.ts';
