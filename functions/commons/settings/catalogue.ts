/**
 * Every setting of the gateway, once: its environment variable (the functions', which the CDK app writes,
 * or `npm start`'s), its CDK context key, its type, default, bounds, allowed values and what it means. The
 * functions' config, the CDK app's context and function environments, `npm start`, `npm run keys` and the
 * README's configuration tables derive from this list (test/unit/settings-catalogue.test.ts holds the
 * README to it). Pure data: no AWS, no I/O.
 *
 * Numbers are in the environment variable's unit (seconds, not minutes); `contextIn` says when the CDK
 * context counts in minutes or hours instead. In `doc` and the README notes, `{min}`, `{max}` and
 * `{values}` stand for the bounds (in the table's unit) and the allowed values.
 */
import { MAX_WORKFLOW_WAIT_SECONDS, MIN_WORKFLOW_WAIT_SECONDS } from '../domain/workflow-wait.ts';

/** What a number may be. Messages describe it: "a whole number of seconds from 1 to 3600". */
export interface Bounds {
  readonly integer?: boolean;
  readonly min?: number;
  /** Exclusive lower bound: "above 0". */
  readonly above?: number;
  readonly max?: number;
  /** What the number counts, for messages: `seconds`, `requests a minute`. */
  readonly unit?: string;
  /** A length of time in seconds: messages say "from 1 minute to 168 hours". */
  readonly duration?: boolean;
  /** Whose bounds they are, when not ours: `AWS WAF's bounds`. */
  readonly why?: string;
}

/** What a row of the README's tables says beyond the setting's value and `doc`. */
export interface ReadmeRow {
  /** Shown instead of the default value: for a default that is not a value (`none`, `a new secret …`). */
  readonly default?: string;
  /** Appended to `doc` in this table (it brings its own punctuation). */
  readonly note?: string;
}

interface Common {
  /** What it does, in one line: the README's tables show it. */
  readonly doc: string;
  /** The environment variable: what the functions read (the CDK app sets it), or what `npm start` reads. */
  readonly env?: string;
  /** The CDK context key (`-c key=value` or cdk.json): a deployment's setting. */
  readonly context?: string;
  /** `npm start` reads `env`: the README's `npm start` table lists it. */
  readonly local?: ReadmeRow;
  /** What the README's CDK context table says beyond `doc` (every setting with a `context` is listed). */
  readonly deploy?: ReadmeRow;
  /** The `npm run keys -- create` option that sets a key's own value. */
  readonly option?: string;
}

export interface NumberSetting extends Common, Bounds {
  readonly type: 'number';
  readonly default?: number;
  /** The CDK context counts in this unit where the environment counts seconds. */
  readonly contextIn?: 'minutes' | 'hours';
  /**
   * What the functions accept, when it is not the deployment's bounds: the local runtime scales durations
   * and per-minute limits past those, and `npm start` sets its own overrides.
   */
  readonly runtime?: Bounds;
}

export interface StringSetting extends Common {
  readonly type: 'string';
  readonly default?: string;
  /** The functions cannot run without it: the CDK app always sets it. */
  readonly required?: boolean;
}

export interface ChoiceSetting extends Common {
  readonly type: 'choice';
  readonly values: readonly string[];
  readonly default: string;
}

/** Entries separated by commas (in cdk.json also a list). */
export interface ListSetting extends Common {
  readonly type: 'list';
  /** What each entry may be; unset: anything the setting's own parser accepts. */
  readonly values?: readonly string[];
  /** Unset: none, or every one of `values`. */
  readonly default?: readonly string[];
}

export interface BooleanSetting extends Common {
  readonly type: 'boolean';
  readonly default: boolean;
}

export type Setting = NumberSetting | StringSetting | ChoiceSetting | ListSetting | BooleanSetting;

/** Seconds in a unit of the CDK context. */
export const CONTEXT_UNIT_SECONDS = { minutes: 60, hours: 3600 } as const;

/** What Luma's API offers per generation (domain/luma-options.ts names them LUMA_MODELS, …). */
const MODELS = ['ray-2', 'ray-flash-2'] as const;
const RESOLUTIONS = ['540p', '720p', '1080p', '4k'] as const;
const DURATIONS = ['5s', '9s'] as const;

const MINUTE = 60;
const HOUR = 3600;

/**
 * A request's option (model, resolution, duration) has two settings of one shape each: its value when a
 * request names none, and the values a request may ask for.
 */
function requestDefault<const E extends string, const C extends string, const V extends readonly string[]>(
  what: string, env: E, context: C, values: V, value: V[number],
) {
  return { type: 'choice', env, context, values, default: value, doc: `the ${what} of a request that names none: {values}`, local: {} } as const;
}
function allowedOptions<const E extends string, const C extends string, const V extends readonly string[]>(
  what: string, env: E, context: C, values: V, example = '',
) {
  return {
    type: 'list', env, context, values,
    doc: `the ${what}s a request may ask for, comma-separated${example}; the default ${what} must be among them`,
    local: { default: 'all' }, deploy: { default: 'all' },
  } as const;
}

export const SETTINGS = {
  // ------------------------------------------------------------------ npm start itself
  port: {
    type: 'number', env: 'PORT', integer: true, min: 0, max: 65_535, default: 3000,
    doc: '`0` picks a free port; the `Listening on http://127.0.0.1:<port>` line shows the real one',
    local: {},
  },
  localApiKeys: {
    type: 'list', env: 'LOCAL_API_KEY',
    doc:
      'your own keys instead, separated by commas, each its own owner: any 1 to 256 visible ASCII characters (`dev` works). ' +
      'They are printed masked (`acc-… (13 characters)`), never in full',
    local: { default: 'one generated key, kept in the data dir (printed at start)' },
  },
  localDataDir: {
    type: 'string', env: 'LOCAL_DATA_DIR', default: '.local',
    doc: 'emulator data, executions, the synthesized app and the local AWS key pair (0700); restart with the same dir and every task carries on',
    local: {},
  },
  localTimeScale: {
    type: 'number', env: 'LOCAL_TIME_SCALE', above: 0, default: 1,
    doc: "multiplies every wait, poll interval, retry interval and deadline, and the simulated upstream's timings",
    local: {},
  },

  // ------------------------------------------------------------------ the upstream
  upstreamKeySecretArn: {
    type: 'string', env: 'LUMA_API_KEY_SECRET_ARN', context: 'upstreamKeySecretArn', required: true,
    doc:
      'an existing Secrets Manager secret holding the Luma key (plain, or JSON `{"apiKey": "…"}`), by its complete ARN or a partial one ' +
      '(without the `-` and 6 characters Secrets Manager appends). They are told apart by shape: a secret whose own name ends in `-` ' +
      'and six letters or digits must be given by its complete ARN',
    deploy: { default: 'a new secret holding `{"apiKey": "REPLACE_ME"}`' },
  },
  upstreamKeySecretKmsKeyArn: {
    type: 'string', context: 'upstreamKeySecretKmsKeyArn', deploy: { default: 'none: the AWS-managed key' },
    doc:
      'the customer-managed KMS key that encrypts that secret (a key ARN, not an alias); the functions that read the secret (API, Poll) ' +
      'may decrypt with it through Secrets Manager only (`kms:ViaService`). Only with `upstreamKeySecretArn`',
  },
  upstreamBaseUrl: {
    type: 'string', env: 'LUMA_BASE_URL', context: 'upstreamBaseUrl', default: 'https://api.lumalabs.ai/dream-machine/v1',
    doc: 'the upstream: the Luma API or any compatible one',
    local: {
      default: 'unset: the built-in simulated Luma API',
      note: '; set it and `LUMA_API_KEY` together to use a real one (`https://api.lumalabs.ai/dream-machine/v1`)',
    },
  },
  upstreamApiKey: {
    type: 'string', env: 'LUMA_API_KEY',
    doc: "the upstream's API key, with `LUMA_BASE_URL` (deployed, the key is kept in Secrets Manager)",
    local: { default: 'unset: the built-in simulated Luma API' },
  },
  publicBaseUrl: {
    type: 'string', env: 'PUBLIC_BASE_URL', context: 'publicBaseUrl',
    doc: 'where the upstream reaches this gateway: the base of each task\'s marker and callback URL',
    local: {
      default: "the gateway's own URL with the simulated upstream; none with a remote one",
      note:
        " (for example a tunnel's https URL). Without it, a remote upstream gets no marker and an interrupted submit is submitted again " +
        'rather than matched',
    },
    deploy: { default: "the REST API's own `https://…execute-api…/prod` URL", note: " (https): the API's custom domain, if the upstream should call that" },
  },
  upstreamModel: requestDefault('model', 'LUMA_MODEL', 'upstreamModel', MODELS, 'ray-2'),
  upstreamResolution: requestDefault('resolution', 'LUMA_RESOLUTION', 'upstreamResolution', RESOLUTIONS, '720p'),
  upstreamDuration: requestDefault('duration', 'LUMA_DURATION', 'upstreamDuration', DURATIONS, '5s'),
  allowedModels: allowedOptions('model', 'ALLOWED_MODELS', 'allowedModels', MODELS),
  allowedResolutions: allowedOptions('resolution', 'ALLOWED_RESOLUTIONS', 'allowedResolutions', RESOLUTIONS, ' (`540p,720p,1080p` forbids 4k)'),
  allowedDurations: allowedOptions('duration', 'ALLOWED_DURATIONS', 'allowedDurations', DURATIONS),
  upstreamResubmits: {
    type: 'number', env: 'UPSTREAM_RESUBMITS', context: 'upstreamResubmits', integer: true, min: 0, max: 5, default: 1,
    doc: 'how often a task Luma failed on its own side ("Job failed", "Error dispatching job") is submitted again, {min} to {max}',
    local: {},
  },
  upstreamTimeout: {
    type: 'number', env: 'UPSTREAM_TIMEOUT_MS', unit: 'milliseconds', min: 100, default: 10_000,
    doc: 'how long one request to the upstream may take',
  },

  // ------------------------------------------------------------------ deadlines and the workflow
  generationTimeout: {
    type: 'number', env: 'GENERATION_TIMEOUT_SECONDS', context: 'generationTimeoutMinutes', contextIn: 'minutes', duration: true,
    min: MINUTE, default: 30 * MINUTE, runtime: { unit: 'seconds', min: 1 },
    doc: 'the deadline of a generation, counted from its admission to an upstream slot',
    local: { note: ' (before `LOCAL_TIME_SCALE`)' }, deploy: { note: '; at least {min}' },
  },
  queueTimeout: {
    type: 'number', env: 'QUEUE_TIMEOUT_SECONDS', context: 'queueTimeoutHours', contextIn: 'hours', duration: true,
    // A queued task's wait is bounded like anything that holds a client: a week at most.
    min: MINUTE, max: 7 * 24 * HOUR, default: 24 * HOUR, runtime: { unit: 'seconds', min: 1 },
    doc: "how long a task may wait in its owner's queue for a slot before it fails `deadline_exceeded`",
    local: { note: ' (before `LOCAL_TIME_SCALE`)' }, deploy: { note: '; up to {max}' },
  },
  pollInterval: {
    type: 'number', env: 'POLL_INTERVAL_SECONDS', context: 'pollIntervalSeconds', unit: 'seconds', integer: true,
    min: MIN_WORKFLOW_WAIT_SECONDS, max: MAX_WORKFLOW_WAIT_SECONDS, default: 3,
    doc:
      'the shortest wait between two polls of the upstream when no callback is expected (adaptive polling), and between tries ' +
      'of a submit the upstream or the create window deferred',
    deploy: { note: ': whole seconds, {min} to {max} (a workflow wait is whole seconds only; anything else fails the synth)' },
  },
  upstreamCallbacks: {
    type: 'boolean', env: 'UPSTREAM_CALLBACKS', context: 'upstreamCallbacks', default: true,
    doc:
      'the upstream calls back on each change (Luma does): a callback ends the workflow\'s wait, and polling is only the sparse ' +
      'fallback of `pollFallbackSeconds`. `false`: adaptive polling (the first poll near the typical time, then every ' +
      '`pollIntervalSeconds` or more)',
    local: {},
  },
  pollFallback: {
    type: 'number', env: 'POLL_FALLBACK_SECONDS', context: 'pollFallbackSeconds', unit: 'seconds', integer: true,
    min: MIN_WORKFLOW_WAIT_SECONDS, max: MAX_WORKFLOW_WAIT_SECONDS, default: 60,
    doc: 'while callbacks are expected, the longest a generation goes without a poll: what a lost callback costs at most',
    local: { note: ' (before `LOCAL_TIME_SCALE`)' },
  },
  pollPrior: {
    type: 'number', env: 'POLL_PRIOR_SECONDS', context: 'pollPriorSeconds', unit: 'seconds', min: 1, max: MAX_WORKFLOW_WAIT_SECONDS,
    default: 120,
    doc:
      'adaptive polling: the typical time of a ray-2 5 s 720p generation until recent completions are known (other kinds ' +
      'scale it); the first poll comes at 90% of the typical time',
  },
  maxPollsPerTask: {
    type: 'number', env: 'MAX_POLLS_PER_TASK', context: 'maxPollsPerTask', integer: true, min: 1, max: 1000, default: 40,
    doc: 'no task is polled more often (a read on a callback is no poll, and comes at most once a second); past it only the deadline ends the task',
  },
  reconcileInterval: {
    type: 'number', context: 'reconcileIntervalMinutes', contextIn: 'minutes', duration: true, default: 5 * MINUTE,
    doc: 'how often the reconciler runs',
  },
  reconcileGrace: {
    type: 'number', env: 'RECONCILE_GRACE_SECONDS', unit: 'seconds', min: 0, default: 120,
    doc: 'a task younger than this may be between "recorded" and "started" by the API: not the reconciler\'s yet',
  },

  // ------------------------------------------------------------------ capacity and per-key limits
  upstreamMaxConcurrent: {
    type: 'number', env: 'UPSTREAM_MAX_CONCURRENT', context: 'upstreamMaxConcurrent', integer: true, min: 1, max: 1000, default: 10,
    runtime: { min: 1 },
    doc: 'generations the gateway lets run upstream at once',
    local: {}, deploy: { note: ' (Luma Build tier: 10)' },
  },
  upstreamMaxCreatesPerMinute: {
    type: 'number', env: 'UPSTREAM_MAX_CREATES_PER_MINUTE', context: 'upstreamMaxCreatesPerMinute', integer: true, min: 1, max: 1000,
    default: 20, runtime: { min: 1 },
    doc: 'creates a minute the gateway sends upstream',
    local: { note: ' (minutes of scaled time)' }, deploy: { note: ' (Luma Build tier: 20)' },
  },
  keyRatePerMinute: {
    type: 'number', env: 'KEY_RATE_PER_MINUTE', context: 'keyRatePerMinute', option: 'rate', integer: true, min: 1, max: 100_000,
    default: 600, runtime: { min: 1 },
    doc: 'generations a key may create a minute (429 beyond), unless the key has its own limit (`--rate`)',
    local: { note: '; minutes of scaled time' },
  },
  keyMaxQueued: {
    type: 'number', env: 'KEY_MAX_QUEUED', context: 'keyMaxQueued', option: 'max-queued', integer: true, min: 1, max: 100_000,
    default: 1000, runtime: { min: 1 },
    doc: "tasks of a key's owner that may wait for a slot at once (429 beyond), unless the key has its own limit (`--max-queued`)",
    local: {},
  },
  keyMaxConcurrent: {
    type: 'number', env: 'KEY_MAX_CONCURRENT', context: 'keyMaxConcurrent', option: 'max-concurrent', integer: true, min: 1, max: 10_000,
    runtime: { min: 1 },
    doc:
      "tasks of a key's owner that may **run upstream** at once, unless the key has its own limit (`--max-concurrent`); without it, " +
      'fair share lets a tenant alone use every slot and makes tenants take turns. **Changed meaning:** before the queue it counted ' +
      'unfinished generations (waiting or running), defaulted to 5 and refused the rest with 429; keys created then with ' +
      '`--max-concurrent` now cap their running tasks and queue the rest',
    local: { default: 'none' }, deploy: { default: 'none' },
  },
  keyWeight: {
    type: 'number', option: 'weight', integer: true, min: 1, max: 1000, default: 1,
    doc: "a key's owner's share of the upstream slots against other owners' (running tasks / weight is compared)",
  },

  // ------------------------------------------------------------------ the edge
  clientRequestsPerMinute: {
    type: 'number', env: 'CLIENT_REQUESTS_PER_MINUTE', context: 'clientRequestsPerMinute', unit: 'requests a minute', integer: true,
    min: 10, max: 2_000_000_000, why: "AWS WAF's bounds", default: 3000,
    doc: 'requests a minute one `Authorization` value may send, valid or not (AWS WAF; {min} to {max})',
    local: { note: '; real minutes, not scaled (see [Throttling](#throttling))' },
  },
  ipRequestsPerMinute: {
    type: 'number', env: 'IP_REQUESTS_PER_MINUTE', context: 'ipRequestsPerMinute', unit: 'requests a minute', integer: true, min: 10,
    max: 2_000_000_000, why: "AWS WAF's bounds", default: 6000,
    doc: 'requests a minute one client address may send, whatever the keys (AWS WAF; {min} to {max})',
    local: { note: '; real minutes, not scaled: every local client is 127.0.0.1' },
  },
  apiRateLimit: {
    type: 'number', env: 'API_RATE_LIMIT', context: 'apiRateLimit', unit: 'requests a second', above: 0, default: 500,
    doc: "the stage's throttle: requests a second for all clients together, a ceiling for the account",
    local: {},
  },
  apiBurstLimit: {
    type: 'number', env: 'API_BURST_LIMIT', context: 'apiBurstLimit', unit: 'requests', integer: true, above: 0, default: 1000,
    doc: "the stage's throttle: the burst of requests above its rate",
    local: {},
  },
  apiGatewayCloudWatchRole: {
    type: 'boolean', context: 'apiGatewayCloudWatchRole', default: true,
    doc: "`false`: the account's API Gateway logging role (API Gateway console, Settings) is managed elsewhere; leave it alone",
  },
  corsAllowedOrigins: {
    type: 'list', env: 'CORS_ALLOWED_ORIGINS', context: 'corsAllowedOrigins', default: [],
    doc:
      'browser origins that may call the API and PUT uploads from a page, comma-separated, each exactly as a browser sends it ' +
      '(`https://app.example.com`, `http://localhost:5173`: no path, no `*`); see [Browser clients (CORS)](#browser-clients-cors)',
    local: { default: 'none' }, deploy: { default: 'none' },
  },
  alarmEmail: {
    type: 'string', context: 'alarmEmail',
    doc: "an email address subscribed to the alarms' SNS topic (SNS asks it to confirm); see [Operating it](#operating-it)",
    deploy: { default: 'none' },
  },

  // ------------------------------------------------------------------ the copy and the links
  /**
   * Where the Luma API serves generated assets (entries as in adapters/asset-policy.ts): its docs show
   * `https://storage.cdn-luma.com/dream_machine/…`; the wildcard also covers Luma's other CDN hosts
   * (e.g. `static.cdn-luma.com`), all under its own domain.
   */
  assetHostAllowlist: {
    type: 'list', env: 'ASSET_HOST_ALLOWLIST', context: 'assetHostAllowlist', default: ['*.cdn-luma.com'],
    doc:
      'where the copy may download from, comma-separated: hosts (`storage.cdn-luma.com`), subdomain patterns (`*.cdn-luma.com`), ' +
      'or exact origins (`http://10.0.0.5:8080`)',
  },
  presignExpiry: {
    type: 'number', env: 'PRESIGN_EXPIRY_SECONDS', unit: 'seconds', min: 1, default: HOUR,
    doc: 'how long the video and thumbnail links in GET responses work',
  },
  keyframeUrlExpiry: {
    type: 'number', env: 'KEYFRAME_URL_EXPIRY_SECONDS', unit: 'seconds', min: MINUTE, default: HOUR,
    doc: 'how long the upstream may read a keyframe the gateway stored, by its presigned link',
  },
  maxVideoBytes: {
    type: 'number', env: 'MAX_VIDEO_BYTES', unit: 'bytes', min: 1, default: 1024 * 1024 * 1024,
    doc: 'the largest video the copy accepts',
  },
  downloadTimeout: {
    type: 'number', env: 'DOWNLOAD_TIMEOUT_MS', unit: 'milliseconds', min: 100, default: 600_000,
    doc: "how long the copy's download of a video may take (the CDK app sets a minute less than the copy function's timeout)",
  },

  // ------------------------------------------------------------------ events and webhooks
  eventBusName: {
    type: 'string', env: 'EVENT_BUS_NAME', context: 'eventBusName', default: 'default',
    doc: "the EventBridge bus every generation's changes are published to, by its name or ARN; see [Events and webhooks](#events-and-webhooks)",
    deploy: { default: "`default`: the account's default bus" },
  },
  exampleConsumer: {
    type: 'boolean', env: 'EXAMPLE_CONSUMER', context: 'exampleConsumer', default: false,
    doc: '`true`: also the example consumer, which writes `generations/{id}/metadata.json` beside each video; see [Events and webhooks](#events-and-webhooks)',
    local: { default: '`false`' }, deploy: { default: '`false`' },
  },
  webhookRetryWindow: {
    type: 'number', env: 'WEBHOOK_RETRY_WINDOW_SECONDS', duration: true, min: 24 * HOUR, max: 7 * 24 * HOUR, default: 24 * HOUR, runtime: { unit: 'seconds', min: 1 },
    doc: 'how long a webhook delivery that is not taken (2xx) is retried before it is given up (the local runtime scales it)',
  },
  webhookLoopback: {
    type: 'boolean', env: 'WEBHOOK_ALLOW_LOOPBACK', default: false,
    doc: 'webhook URLs on this machine (127.0.0.1, ::1, `localhost`), over http too: the local runtime sets it; never deployed',
  },
  localWebhookSecret: {
    type: 'string', env: 'LOCAL_WEBHOOK_SECRET',
    doc: 'the webhook secret (`whsec_…`, Standard Webhooks) that signs the deliveries of the keys `npm start` seeds',
    local: { default: 'one generated, kept in the data dir (printed at the start that makes it)' },
  },

  // ------------------------------------------------------------------ what the CDK app wires
  tableName: { type: 'string', env: 'TABLE_NAME', required: true, doc: 'the table of tasks, keys, slots and counters' },
  bucketName: { type: 'string', env: 'BUCKET_NAME', required: true, doc: 'the bucket of keyframes, uploads and videos' },
  stateMachineArn: { type: 'string', env: 'STATE_MACHINE_ARN', required: true, doc: 'the generation workflow the functions start' },
  webhookStateMachineArn: { type: 'string', env: 'WEBHOOK_STATE_MACHINE_ARN', required: true, doc: 'the webhook delivery workflow publishers start' },

  // ------------------------------------------------------------------ the simulated upstream (npm start)
  simFaultRate: {
    type: 'number', env: 'SIM_FAULT_RATE', min: 0, max: 1, default: 0,
    doc: 'simulated upstream: probability ({min} to {max}) that a submit, poll or asset download gets an injected fault',
    local: {},
  },
  simFaults: {
    type: 'list', env: 'SIM_FAULTS', local: { default: 'all' },
    doc:
      'the kinds that may be injected, comma-separated: `submit_5xx`, `submit_429`, `submit_timeout`, `submit_lost` (created upstream, ' +
      'answer lost), `poll_5xx`, `poll_429`, `download_cut`, `download_garbage`, `generation_fail` (described at the top of `local/simulated-luma.ts`)',
  },
  simHangMs: {
    type: 'number', env: 'SIM_HANG_MS', unit: 'milliseconds', min: 0, default: 30_000,
    doc: 'how long a `submit_timeout` holds the request before dropping it (times `LOCAL_TIME_SCALE`)',
    local: {},
  },
  simMaxConcurrent: {
    type: 'number', env: 'SIM_MAX_CONCURRENT', integer: true, min: 1,
    doc: "simulated upstream: like Luma's account limit, a submit while this many generations are queued or dreaming answers 429",
    local: { default: 'unlimited' },
  },
  simSeed: {
    type: 'number', env: 'SIM_SEED', integer: true,
    doc: 'seeds the fault decisions, so the same requests in the same order meet the same faults',
    local: { default: 'random' },
  },
  simCallbacks: {
    type: 'choice', env: 'SIM_CALLBACKS', values: ['0', '1'], default: '1',
    doc: "simulated upstream: `1` calls back each task's callback URL on each change, as Luma does; `0` never, as if every callback were lost",
    local: {},
  },
  simOtherClients: {
    type: 'choice', env: 'SIM_OTHER_CLIENTS', values: ['0', '1'], default: '1',
    doc:
      "simulated upstream: the account is shared, like a real Luma key: it already holds an hour of other clients' generations " +
      '(the prompt above among them), and each submit has a twin by another client with the same request, a millisecond earlier, ' +
      'without our `callback_url`. `0`: an account of our own',
    local: {},
  },
} as const satisfies Record<string, Setting>;

export type SettingName = keyof typeof SETTINGS;
export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/** Names of the settings of one type. */
export type SettingsOfType<T extends Setting['type']> = { [N in SettingName]: (typeof SETTINGS)[N]['type'] extends T ? N : never }[SettingName];
