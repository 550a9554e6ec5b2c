/**
 * The app's settings, given as CDK context the way the CLI gives it (`cdk synth -c key=value`: string values)
 * or as cdk.json does (lists, numbers): each reaches the functions, grants and resources it is about, and a
 * bad value fails the synth, naming the setting.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { Match } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayStack } from '../../infra/gateway-stack.ts';
import type { LumaVideoGateway } from '../../infra/constructs/luma-video-gateway.ts';
import { environmentOf, logicalIdOf, removeOutdirs, synthesize } from './support/synth.ts';
import { definitionOf, type Json, type Resources } from './support/template.ts';

afterAll(removeOutdirs);

describe('app context (given as the CLI gives it: `cdk synth -c key=value` → string values)', () => {
  const EXISTING_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:luma-api-key-AbCdEf';
  let other: Template;
  let otherResources: Resources;
  let otherStack: GatewayStack;
  let w: LumaVideoGateway['functions'];

  beforeAll(() => {
    ({ stack: otherStack, template: other, resources: otherResources } = synthesize(
      {
        upstreamKeySecretArn: EXISTING_SECRET,
        generationTimeoutMinutes: '45',
        pollIntervalSeconds: '20',
        upstreamBaseUrl: 'https://luma.example.test/v1',
        upstreamModel: 'ray-flash-2',
        upstreamResolution: '1080p',
        upstreamDuration: '9s',
        allowedModels: 'ray-flash-2',
        allowedResolutions: '540p, 1080p,720p',
        upstreamResubmits: '3',
        upstreamMaxConcurrent: '5',
        upstreamMaxCreatesPerMinute: '40',
        keyRatePerMinute: '12',
        keyMaxQueued: '50',
        keyMaxConcurrent: '3',
        queueTimeoutHours: '2',
        reconcileIntervalMinutes: '15',
        assetHostAllowlist: 'storage.cdn-luma.com,*.assets.example.test,http://10.0.0.5:8080',
      },
    ));
    w = otherStack.gateway.functions;
  }, 120_000);

  const otherEnv = (construct: IConstruct): Record<string, Json> => environmentOf({ stack: otherStack, resources: otherResources }, construct);

  it('`upstreamKeySecretArn` uses that secret: no new secret is created', () => {
    other.resourceCountIs('AWS::SecretsManager::Secret', 0);
    other.hasOutput('UpstreamKeySecret', { Value: EXISTING_SECRET });
  });

  it('`upstreamKeySecretArn` is what the functions are told and granted', () => {
    for (const fn of [w.api, w.poll]) {
      expect(otherEnv(fn).LUMA_API_KEY_SECRET_ARN).toBe(EXISTING_SECRET);
    }
    other.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: 'secretsmanager:GetSecretValue', Resource: EXISTING_SECRET }),
        ]),
      },
    });
    const policiesOnSecret = Object.values(other.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.PolicyDocument).includes(EXISTING_SECRET),
    );
    expect(policiesOnSecret).toHaveLength(2); // API and Poll
  });

  it('`generationTimeoutMinutes` sets GENERATION_TIMEOUT_SECONDS and the execution timeout', () => {
    expect(otherEnv(w.api).GENERATION_TIMEOUT_SECONDS).toBe(String(45 * 60));
    // It moved with the setting, keeping the default's slack past the deadline (workflow.test.ts: 8135 s at 30 minutes).
    expect(definitionOf(other).TimeoutSeconds).toBe(45 * 60 + (8135 - 30 * 60));
  });

  it('`pollIntervalSeconds` sets POLL_INTERVAL_SECONDS of the poll function', () => {
    expect(otherEnv(w.poll).POLL_INTERVAL_SECONDS).toBe('20');
  });

  it('`upstreamBaseUrl` and `upstreamModel` reach the API and poll functions', () => {
    for (const fn of [w.api, w.poll]) {
      expect(otherEnv(fn)).toMatchObject({ LUMA_BASE_URL: 'https://luma.example.test/v1', LUMA_MODEL: 'ray-flash-2' });
    }
  });

  it('`upstreamResolution` and `upstreamDuration` reach the API and poll functions', () => {
    for (const fn of [w.api, w.poll]) {
      expect(otherEnv(fn)).toMatchObject({ LUMA_RESOLUTION: '1080p', LUMA_DURATION: '9s' });
    }
  });

  it('`allowedModels` and `allowedResolutions` (comma-separated) set the API’s lists, in Luma’s order; unset `allowedDurations` allows all', () => {
    expect(otherEnv(w.api)).toMatchObject({
      ALLOWED_MODELS: 'ray-flash-2',
      ALLOWED_RESOLUTIONS: '540p,720p,1080p',
      ALLOWED_DURATIONS: '5s,9s',
    });
  });

  it('`upstreamResubmits` sets the poll’s UPSTREAM_RESUBMITS', () => {
    expect(otherEnv(w.poll).UPSTREAM_RESUBMITS).toBe('3');
  });

  it(
    '`allowedResolutions` may be a list, as in cdk.json, and 0 resubmits turns resubmitting off',
    () => {
      const list = synthesize({ allowedResolutions: ['720p', '540p'], upstreamResubmits: 0 });
      expect(environmentOf(list, list.gateway.functions.api)).toMatchObject({ ALLOWED_RESOLUTIONS: '540p,720p', LUMA_RESOLUTION: '720p' });
      expect(environmentOf(list, list.gateway.functions.poll).UPSTREAM_RESUBMITS).toBe('0');
    },
    60_000,
  );

  it('`upstreamMaxConcurrent` and `upstreamMaxCreatesPerMinute` reach every function that counts slots, and not Copy', () => {
    for (const fn of [w.api, w.poll, w.recordFailure, w.reconcile]) {
      expect(otherEnv(fn)).toMatchObject({ UPSTREAM_MAX_CONCURRENT: '5', UPSTREAM_MAX_CREATES_PER_MINUTE: '40' });
    }
    expect(Object.keys(otherEnv(w.copy)).filter((key) => key.startsWith('UPSTREAM_'))).toEqual([]);
  });

  it('`queueTimeoutHours` sets QUEUE_TIMEOUT_SECONDS of every function that counts slots', () => {
    for (const fn of [w.api, w.poll, w.recordFailure, w.reconcile]) {
      expect(otherEnv(fn).QUEUE_TIMEOUT_SECONDS).toBe(String(2 * 3600));
    }
  });

  it('`keyRatePerMinute`, `keyMaxQueued` and `keyMaxConcurrent` set the API’s KEY_RATE_PER_MINUTE, KEY_MAX_QUEUED and KEY_MAX_CONCURRENT, and no other function’s', () => {
    expect(otherEnv(w.api)).toMatchObject({ KEY_RATE_PER_MINUTE: '12', KEY_MAX_QUEUED: '50', KEY_MAX_CONCURRENT: '3' });
    for (const fn of [w.poll, w.copy, w.recordFailure, w.reconcile]) {
      expect(Object.keys(otherEnv(fn)).filter((key) => key.startsWith('KEY_'))).toEqual([]);
    }
  });

  it('`reconcileIntervalMinutes` sets the reconciler’s schedule', () => {
    const rules = Object.values(other.findResources('AWS::Events::Rule'));
    expect(rules).toHaveLength(1);
    expect(rules[0]!.Properties.ScheduleExpression).toBe('rate(15 minutes)');
    expect(rules[0]!.Properties.Targets[0].Arn).toEqual({
      'Fn::GetAtt': [logicalIdOf(otherStack, w.reconcile), 'Arn'],
    });
  });

  it('`assetHostAllowlist` (comma-separated) sets Copy’s ASSET_HOST_ALLOWLIST, entries kept in order', () => {
    const allowlist = String(otherEnv(w.copy).ASSET_HOST_ALLOWLIST);
    expect(allowlist.split(',')).toEqual(['storage.cdn-luma.com', '*.assets.example.test', 'http://10.0.0.5:8080']);
    expect(allowlist.split(',')).not.toContain('*.cdn-luma.com'); // replaces the default, does not add to it
  });

  it(
    '`assetHostAllowlist` may be a list, as in cdk.json',
    () => {
      const list = synthesize({ assetHostAllowlist: ['storage.cdn-luma.com', 'https://assets.example.test'] });
      expect(String(environmentOf(list, list.gateway.functions.copy).ASSET_HOST_ALLOWLIST).split(',')).toEqual([
        'storage.cdn-luma.com',
        'https://assets.example.test',
      ]);
    },
    60_000,
  );

  it.each([
    ['keyMaxConcurrent', '0', /^keyMaxConcurrent must be a whole number from 1 to 10000, not 0\.$/],
    ['keyMaxQueued', '0', /^keyMaxQueued must be a whole number from 1 to 100000, not 0\.$/],
    ['keyMaxQueued', '2.5', /keyMaxQueued/],
    ['keyRatePerMinute', '100001', /^keyRatePerMinute must be a whole number from 1 to 100000, not 100001\.$/],
    ['keyRatePerMinute', 'many', /keyRatePerMinute/],
    ['queueTimeoutHours', '169', /queueTimeoutHours must be from 1 minute to 168 hours/],
    ['queueTimeoutHours', '0', /queueTimeoutHours must be from 1 minute to 168 hours/],
    ['reconcileIntervalMinutes', 'often', /reconcileIntervalMinutes/],
    ['assetHostAllowlist', 'ftp://files.example.test', /must be an http or https origin/],
    ['upstreamModel', 'ray-3', /^upstreamModel must be one of ray-2, ray-flash-2, not "ray-3"\.$/],
    ['upstreamResolution', '8k', /^upstreamResolution must be one of 540p, 720p, 1080p, 4k, not "8k"\.$/],
    ['upstreamDuration', '10s', /^upstreamDuration must be one of 5s, 9s, not "10s"\.$/],
    ['allowedResolutions', '720p,8k', /^allowedResolutions may list only 540p, 720p, 1080p, 4k; "8k" is not one of them\.$/],
    ['allowedModels', ' , ', /^allowedModels must list at least one of ray-2, ray-flash-2/],
    ['allowedResolutions', '1080p,4k', /The default resolution 720p \(upstreamResolution is unset\) is not among allowedResolutions \(1080p, 4k\)/],
    ['upstreamResubmits', '-1', /upstreamResubmits must be a whole number from 0 to 5/],
    ['upstreamResubmits', '1.5', /upstreamResubmits must be a whole number from 0 to 5/],
    ['upstreamResubmits', '6', /upstreamResubmits must be a whole number from 0 to 5/],
    ['upstreamResubmits', 'twice', /upstreamResubmits/],
  ])(
    'rejects `%s` = "%s" at synth time',
    (key, value, message) => {
      expect(() => synthesize({ [key]: value })).toThrow(message);
    },
    60_000,
  );

  it.each([
    ['upstreamMaxConcurrent', '0', /maxConcurrent/],
    ['upstreamMaxConcurrent', '2.5', /maxConcurrent/],
    ['upstreamMaxCreatesPerMinute', '1001', /maxCreatesPerMinute/],
    ['upstreamMaxCreatesPerMinute', 'many', /upstreamMaxCreatesPerMinute/],
  ])(
    'rejects `%s` = "%s" at synth time',
    (key, value, message) => {
      expect(() => synthesize({ [key]: value })).toThrow(message);
    },
    60_000,
  );

  it(
    'rejects a default the operator does not allow at synth time',
    () => {
      expect(() => synthesize({ upstreamResolution: '4k', allowedResolutions: '540p,720p,1080p' })).toThrow('upstreamResolution 4k is not among allowedResolutions (540p, 720p, 1080p): set upstreamResolution to one of them.');
    },
    60_000,
  );

  it(
    'rejects a zero `generationTimeoutMinutes` at synth time',
    () => {
      expect(() => synthesize({ generationTimeoutMinutes: '0' })).toThrow('generationTimeout (generationTimeoutMinutes) must be at least 1 minute, not 0 minutes.');
    },
    60_000,
  );
});
