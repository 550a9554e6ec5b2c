/**
 * The gateway's five Lambda functions as synthesized: runtime, logs, timeouts, the environment each is given,
 * and the cloud assembly's bundles. Built once, with bundling (a few seconds), as a deploy builds it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ASSET_HOST_ALLOWLIST } from '../../functions/commons/config.ts';
import { CAPACITY_FUNCTIONS, PROJECT_FUNCTIONS, STATE_MACHINE_ARN_FROM_NAME, DELIVERY_STATE_MACHINE_ARN, PUBLISHING_FUNCTIONS, synthesizeOnce, type GatewayIds, type ProjectFunction } from './support/synth.ts';
import { render, type Json, type Resources } from './support/template.ts';

let outdir: string;
let template: Template;
let resources: Resources;
let ids: GatewayIds;

synthesizeOnce((synthesized) => ({ outdir, template, resources, ids } = synthesized), { bundle: true });

const fnProps = (name: ProjectFunction): Json => resources[ids.fn[name]]!.Properties;
const envOf = (name: ProjectFunction): Record<string, Json> => fnProps(name).Environment?.Variables ?? {};

describe('Lambda functions', () => {
  it('the functions are exactly the six project functions (no CDK helper function, e.g. for S3 notifications)', () => {
    const functions = template.findResources('AWS::Lambda::Function');
    expect(Object.keys(functions).sort()).toEqual(Object.values(ids.fn).sort());
    template.resourceCountIs('AWS::Lambda::Function', PROJECT_FUNCTIONS.length);
    expect(Object.values(resources).filter((r) => r.Type.startsWith('Custom::'))).toEqual([]);
  });

  it.each(PROJECT_FUNCTIONS)('%s runs on nodejs24.x (the latest Node.js runtime), arm64, with active X-Ray tracing', (name) => {
    expect(fnProps(name)).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      Handler: 'index.handler',
    });
  });

  it.each(PROJECT_FUNCTIONS)('%s logs to its own log group, which keeps its logs 30 days', (name) => {
    const logGroup = fnProps(name).LoggingConfig?.LogGroup;
    expect(logGroup).toEqual({ Ref: expect.any(String) });
    const group = resources[logGroup.Ref]!;
    expect(group.Type).toBe('AWS::Logs::LogGroup');
    expect(group.Properties.RetentionInDays).toBe(30);
  });

  it('each function has a log group of its own', () => {
    const groups = PROJECT_FUNCTIONS.map((name) => fnProps(name).LoggingConfig.LogGroup.Ref);
    expect(new Set(groups).size).toBe(PROJECT_FUNCTIONS.length);
  });

  it('the copy function has 1024 MB and a 15 minute timeout', () => {
    expect(fnProps('Copy')).toMatchObject({ MemorySize: 1024, Timeout: 900 });
  });

  it('the API function times out at 29 s, before API Gateway does (30 s)', () => {
    expect(fnProps('Api').Timeout).toBe(29);
  });

  it('the reconcile function has a 5 minute timeout, no longer than its schedule’s interval', () => {
    expect(fnProps('Reconcile').Timeout).toBe(300);
    expect(resources[ids.reconcileSchedule]!.Properties.ScheduleExpression).toBe('rate(5 minutes)');
  });
});

describe('environment', () => {
  /** The per-key limits: the only variables besides the secret's ARN whose names contain KEY. */
  const NUMERIC_KEY_SETTINGS = new Set(['KEY_RATE_PER_MINUTE', 'KEY_MAX_QUEUED', 'KEY_MAX_CONCURRENT']);
  /** What every function that dispatches is told besides the capacity: the workflow it starts, the deadline it starts. */
  const DISPATCH = ['STATE_MACHINE_ARN', 'GENERATION_TIMEOUT_SECONDS', 'POLL_FALLBACK_SECONDS'];
  /** What the functions that read the upstream (Poll, and the API on a callback) know of the poll schedule. */
  const POLLING = ['UPSTREAM_CALLBACKS', 'POLL_FALLBACK_SECONDS', 'POLL_PRIOR_SECONDS', 'MAX_POLLS_PER_TASK', 'POLL_INTERVAL_SECONDS'];
  const CAPACITY = ['UPSTREAM_MAX_CONCURRENT', 'UPSTREAM_MAX_CREATES_PER_MINUTE', 'QUEUE_TIMEOUT_SECONDS'];
  /** What every function that changes tasks is told to publish the changes: the bus, the delivery workflow, the bucket. */
  const PUBLISH = ['EVENT_BUS_NAME', 'WEBHOOK_STATE_MACHINE_ARN', 'BUCKET_NAME'];

  it.each([
    ['Api', ['TABLE_NAME', ...PUBLISH, 'WEBHOOK_RETRY_WINDOW_SECONDS', ...new Set([...DISPATCH, ...POLLING]), 'PRESIGN_EXPIRY_SECONDS', 'PUBLIC_BASE_URL', ...CAPACITY, 'KEY_RATE_PER_MINUTE', 'KEY_MAX_QUEUED', 'LUMA_BASE_URL', 'LUMA_MODEL', 'LUMA_RESOLUTION', 'LUMA_DURATION', 'ALLOWED_MODELS', 'ALLOWED_RESOLUTIONS', 'ALLOWED_DURATIONS', 'LUMA_API_KEY_SECRET_ARN']],
    ['Poll', ['TABLE_NAME', ...PUBLISH, ...new Set([...DISPATCH, ...POLLING]), ...CAPACITY, 'LUMA_BASE_URL', 'LUMA_MODEL', 'LUMA_RESOLUTION', 'LUMA_DURATION', 'UPSTREAM_RESUBMITS', 'LUMA_API_KEY_SECRET_ARN']],
    ['Copy', ['TABLE_NAME', ...PUBLISH, 'DOWNLOAD_TIMEOUT_MS', 'ASSET_HOST_ALLOWLIST']],
    ['RecordFailure', ['TABLE_NAME', ...PUBLISH, ...DISPATCH, ...CAPACITY]],
    ['Reconcile', ['TABLE_NAME', ...PUBLISH, ...DISPATCH, 'RECONCILE_GRACE_SECONDS', ...CAPACITY]],
    ['DeliverWebhook', ['TABLE_NAME', 'BUCKET_NAME', 'WEBHOOK_RETRY_WINDOW_SECONDS']],
  ] as const)('%s has exactly the environment it is given (plus NODE_OPTIONS and POWERTOOLS_SERVICE_NAME)', (name, keys) => {
    expect(Object.keys(envOf(name)).sort()).toEqual(['NODE_OPTIONS', 'POWERTOOLS_SERVICE_NAME', ...keys].sort());
    expect(envOf(name).NODE_OPTIONS).toBe('--enable-source-maps');
    // The metrics' `service` dimension, which the dashboard and the alarms select by.
    expect(envOf(name).POWERTOOLS_SERVICE_NAME).toBe('LumaVideoGateway');
  });

  it.each(['Api', 'Poll'] as const)('%s sends ray-2 at 720p for 5s unless a request says otherwise', (name) => {
    expect(envOf(name)).toMatchObject({ LUMA_MODEL: 'ray-2', LUMA_RESOLUTION: '720p', LUMA_DURATION: '5s' });
  });

  it('the API, which admits requests, offers every model, resolution and duration by default; no other function is told', () => {
    expect(envOf('Api')).toMatchObject({
      ALLOWED_MODELS: 'ray-2,ray-flash-2',
      ALLOWED_RESOLUTIONS: '540p,720p,1080p,4k',
      ALLOWED_DURATIONS: '5s,9s',
    });
    for (const name of PROJECT_FUNCTIONS.filter((n) => n !== 'Api')) {
      expect(Object.keys(envOf(name)).filter((key) => key.startsWith('ALLOWED_')), name).toEqual([]);
    }
  });

  it('the poll may resubmit a task the upstream failed on its own side once by default; no other function is told', () => {
    expect(envOf('Poll').UPSTREAM_RESUBMITS).toBe('1');
    for (const name of PROJECT_FUNCTIONS.filter((n) => n !== 'Poll')) expect(envOf(name).UPSTREAM_RESUBMITS, name).toBeUndefined();
  });

  it('the API gets the default per-key limits: 600 generations a minute, 1000 queued, and no cap on running tasks', () => {
    expect(envOf('Api')).toMatchObject({ KEY_RATE_PER_MINUTE: '600', KEY_MAX_QUEUED: '1000' });
    expect(envOf('Api').KEY_MAX_CONCURRENT).toBeUndefined(); // fair share governs running tasks
  });

  it.each(CAPACITY_FUNCTIONS)('%s may let a task wait 24 hours for a slot and admits with the 30-minute generation deadline', (name) => {
    expect(envOf(name)).toMatchObject({ QUEUE_TIMEOUT_SECONDS: String(24 * 3600), GENERATION_TIMEOUT_SECONDS: '1800' });
  });

  it('only the API gets the per-key limits (the other functions never admit a request)', () => {
    for (const name of PROJECT_FUNCTIONS.filter((n) => n !== 'Api')) {
      expect(Object.keys(envOf(name)).filter((key) => NUMERIC_KEY_SETTINGS.has(key)), name).toEqual([]);
    }
  });

  it('Copy may download from the default asset hosts only (`*.cdn-luma.com`), and only Copy gets an allowlist', () => {
    expect(envOf('Copy').ASSET_HOST_ALLOWLIST).toBe('*.cdn-luma.com');
    expect(envOf('Copy').ASSET_HOST_ALLOWLIST).toBe(DEFAULT_ASSET_HOST_ALLOWLIST.join(','));
    for (const name of PROJECT_FUNCTIONS.filter((n) => n !== 'Copy')) expect(envOf(name).ASSET_HOST_ALLOWLIST, name).toBeUndefined();
  });

  it('Copy’s download gives up a minute before the function times out', () => {
    expect(Number(envOf('Copy').DOWNLOAD_TIMEOUT_MS)).toBe((fnProps('Copy').Timeout - 60) * 1000);
  });

  it('no environment variable of any function holds a secret value', () => {
    for (const [id, fn] of Object.entries(template.findResources('AWS::Lambda::Function'))) {
      for (const [key, value] of Object.entries<Json>(fn.Properties.Environment?.Variables ?? {})) {
        const text = render(value);
        expect(text, `${id}.${key}`).not.toMatch(/resolve:secretsmanager|resolve:ssm-secure|SecretString/);
        if (NUMERIC_KEY_SETTINGS.has(key)) {
          // Named after client keys, but plain limits: whole numbers, nothing secret.
          expect(value, `${id}.${key}`).toMatch(/^[1-9][0-9]*$/);
        } else if (/KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL/i.test(key)) {
          expect(key, `${id}.${key}`).toBe('LUMA_API_KEY_SECRET_ARN');
          expect(value, `${id}.${key}`).toEqual({ Ref: ids.secret });
        }
      }
    }
  });

  it.each(['Api', 'Poll'] as const)('%s names the upstream key secret by ARN only', (name) => {
    expect(envOf(name).LUMA_API_KEY_SECRET_ARN).toEqual({ Ref: ids.secret });
  });

  it.each(['Copy', 'RecordFailure', 'Reconcile', 'DeliverWebhook'] as const)('%s is not told about the upstream key at all', (name) => {
    expect(Object.keys(envOf(name)).filter((key) => key.startsWith('LUMA_'))).toEqual([]);
  });

  it('the API knows its table, bucket and state machine', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          TABLE_NAME: { Ref: ids.table },
          BUCKET_NAME: { Ref: ids.bucket },
          STATE_MACHINE_ARN: { Ref: ids.stateMachine },
        }),
      },
    });
    expect(envOf('Api')).toMatchObject({
      TABLE_NAME: { Ref: ids.table },
      BUCKET_NAME: { Ref: ids.bucket },
      STATE_MACHINE_ARN: { Ref: ids.stateMachine },
      GENERATION_TIMEOUT_SECONDS: '1800',
    });
  });

  it('Poll and the API read the upstream on the same schedule: callbacks expected, a fallback poll a minute, 40 polls at most', () => {
    for (const name of ['Api', 'Poll'] as const) {
      expect(envOf(name), name).toMatchObject({
        UPSTREAM_CALLBACKS: 'true',
        POLL_FALLBACK_SECONDS: '60',
        POLL_PRIOR_SECONDS: '120',
        MAX_POLLS_PER_TASK: '40',
        POLL_INTERVAL_SECONDS: '3',
      });
    }
    // Every function that starts a run starts it with the same first wait.
    for (const name of CAPACITY_FUNCTIONS) expect(envOf(name).POLL_FALLBACK_SECONDS, name).toBe('60');
  });

  it('the workflow’s functions know their table, bucket, secret and state machine (by the ARN its name gives), and the poll its interval', () => {
    const table = { Ref: ids.table };
    const bucket = { Ref: ids.bucket };
    expect(envOf('Poll')).toMatchObject({ TABLE_NAME: table, BUCKET_NAME: bucket, POLL_INTERVAL_SECONDS: '3', LUMA_API_KEY_SECRET_ARN: { Ref: ids.secret } });
    expect(envOf('Copy')).toMatchObject({ TABLE_NAME: table, BUCKET_NAME: bucket });
    expect(envOf('RecordFailure')).toMatchObject({ TABLE_NAME: table });
    for (const name of ['Poll', 'RecordFailure'] as const) expect(render(envOf(name).STATE_MACHINE_ARN), name).toBe(STATE_MACHINE_ARN_FROM_NAME);
  });

  it('the reconciler knows its table and state machine, and waits 120 s before taking over a newly admitted task', () => {
    expect(envOf('Reconcile')).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: 'LumaVideoGateway',
      TABLE_NAME: { Ref: ids.table },
      BUCKET_NAME: { Ref: ids.bucket },
      EVENT_BUS_NAME: 'default',
      WEBHOOK_STATE_MACHINE_ARN: expect.anything(),
      STATE_MACHINE_ARN: { Ref: ids.stateMachine },
      GENERATION_TIMEOUT_SECONDS: '1800',
      POLL_FALLBACK_SECONDS: '60',
      RECONCILE_GRACE_SECONDS: '120',
      UPSTREAM_MAX_CONCURRENT: '10',
      UPSTREAM_MAX_CREATES_PER_MINUTE: '20',
      QUEUE_TIMEOUT_SECONDS: '86400',
    });
  });

  it.each(CAPACITY_FUNCTIONS)('%s counts the same upstream slots: 10 in flight, 20 creates a minute by default', (name) => {
    expect(envOf(name)).toMatchObject({ UPSTREAM_MAX_CONCURRENT: '10', UPSTREAM_MAX_CREATES_PER_MINUTE: '20' });
  });

  it.each(PUBLISHING_FUNCTIONS)('%s is told the bus, the delivery workflow (by the ARN its name gives) and the bucket, to publish', (name) => {
    expect(envOf(name)).toMatchObject({ EVENT_BUS_NAME: 'default', BUCKET_NAME: { Ref: ids.bucket } });
    expect(render(envOf(name).WEBHOOK_STATE_MACHINE_ARN)).toBe(DELIVERY_STATE_MACHINE_ARN);
  });

  it('the API and the delivery function retry a webhook for 24 hours by default, and only they are told', () => {
    for (const name of PROJECT_FUNCTIONS) {
      expect(envOf(name).WEBHOOK_RETRY_WINDOW_SECONDS, name).toBe(name === 'Api' || name === 'DeliverWebhook' ? '86400' : undefined);
    }
  });

  it('Copy is not given the capacity settings (it never takes or gives back a slot)', () => {
    expect(Object.keys(envOf('Copy')).filter((key) => key.startsWith('UPSTREAM_'))).toEqual([]);
  });
});

describe('cloud assembly', () => {
  it('contains one bundled asset.*/index.mjs per project function, the one each function deploys', () => {
    const bundles = readdirSync(outdir).filter((entry) => entry.startsWith('asset.') && existsSync(join(outdir, entry, 'index.mjs')));
    const deployed = PROJECT_FUNCTIONS.map((name) => {
      const key: string = fnProps(name).Code.S3Key;
      expect(key).toMatch(/^[0-9a-f]{64}\.zip$/);
      return `asset.${key.replace(/\.zip$/, '')}`;
    });
    expect(new Set(deployed).size).toBe(PROJECT_FUNCTIONS.length);
    expect(bundles.sort()).toEqual([...deployed].sort());
    for (const dir of deployed) {
      const code = readFileSync(join(outdir, dir, 'index.mjs'), 'utf8');
      expect(code.length).toBeGreaterThan(1000);
      expect(code).toMatch(/export\s*\{[^}]*\bhandler\b/); // ESM with a `handler` export
    }
  });
});
