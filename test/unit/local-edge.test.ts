/**
 * The local stand-ins for the web ACL and the stage's throttle: their settings are read from the template the
 * CDK app synthesizes (nowhere else), and they count requests on a clock the test moves.
 */
import { Template as CdkTemplate } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/app.ts';
import { LocalWebAcl, rateRulesFromTemplate, type RateRule, type WebRequest } from '../../local/web-acl.ts';
import { isBinaryMediaType, renderGatewayResponse, restApiSettingsFromTemplate, TokenBucket } from '../../local/rest-api-settings.ts';
import type { Template } from '../../local/cloudformation-intrinsics.ts';

function synthesized(context: Record<string, unknown> = {}): Template {
  const { stack } = buildApp({ context: { 'aws:cdk:bundling-stacks': [], ...context }, nag: false });
  return CdkTemplate.fromStack(stack).toJSON() as Template;
}

let template: Template;
beforeAll(() => {
  template = synthesized({ clientRequestsPerMinute: 10, ipRequestsPerMinute: 30, apiRateLimit: 2, apiBurstLimit: 4 });
}, 60_000);

describe('settings from the template', () => {
  it('are the web ACL’s two rules, key first, with the limits and responses the stack was given', () => {
    const rules = rateRulesFromTemplate(template);
    expect(rules.map(({ name, priority, limit, windowMs, key }) => ({ name, priority, limit, windowMs, key }))).toEqual([
      { name: 'PerKeyRate', priority: 0, limit: 10, windowMs: 60_000, key: { kind: 'header', name: 'authorization' } },
      { name: 'PerAddressRate', priority: 1, limit: 30, windowMs: 60_000, key: { kind: 'ip' } },
    ]);
    for (const rule of rules) {
      expect(rule.response).toMatchObject({ status: 429, headers: { 'content-type': 'application/json', 'retry-after': '60' } });
      expect(JSON.parse(rule.response.body).error.code).toBe('rate_limited');
    }
  });

  it('are the stage’s name and throttle, the integration timeout, the binary media types and the gateway responses', () => {
    const settings = restApiSettingsFromTemplate(template);
    expect(settings).toMatchObject({
      stageName: 'prod',
      throttle: { rateLimit: 2, burstLimit: 4 },
      integrationTimeoutMs: 29_000,
      binaryMediaTypes: ['*/*'],
    });
    expect(Object.keys(settings.gatewayResponses ?? {}).sort()).toEqual(['DEFAULT_4XX', 'DEFAULT_5XX', 'INTEGRATION_FAILURE', 'INTEGRATION_TIMEOUT', 'REQUEST_TOO_LARGE', 'THROTTLED']);
    expect(settings.gatewayResponses?.THROTTLED).toMatchObject({ status: 429, headers: { 'cache-control': 'no-store', 'retry-after': '1' } });
  });

  it('render a gateway response as API Gateway fills it in; an uncustomised type falls back to DEFAULT_4XX/5XX, then to {"message"}', () => {
    const { gatewayResponses } = restApiSettingsFromTemplate(template);
    const throttled = renderGatewayResponse({ type: 'THROTTLED', status: 429, message: 'Too Many Requests' }, 'req-1', gatewayResponses);
    expect(throttled.status).toBe(429);
    expect(JSON.parse(throttled.body)).toEqual({ error: { code: 'rate_limited', message: expect.stringContaining('Retry after a second'), details: { request_id: 'req-1' } } });
    const other = renderGatewayResponse({ type: 'MISSING_AUTHENTICATION_TOKEN', status: 403, message: 'Missing "token"' }, 'req-2', gatewayResponses);
    expect(other.status).toBe(403);
    expect(JSON.parse(other.body)).toEqual({ error: { code: 'request_refused', message: 'Missing "token"', details: { request_id: 'req-2' } } });
    expect(renderGatewayResponse({ type: 'THROTTLED', status: 429, message: 'Too Many Requests' }, 'r', {})).toEqual({
      status: 429,
      headers: { 'content-type': 'application/json' },
      body: '{"message":"Too Many Requests"}',
    });
  });

  it('refuse a gateway response the local front cannot play (headers from the request, unknown variables)', () => {
    const copy = structuredClone(template);
    const response = Object.values(copy.Resources).find((r) => r.Type === 'AWS::ApiGateway::GatewayResponse')!;
    response.Properties.ResponseParameters['gatewayresponse.header.x-origin'] = 'method.request.header.Origin';
    expect(() => restApiSettingsFromTemplate(copy)).toThrow(/only static headers/);
    delete response.Properties.ResponseParameters['gatewayresponse.header.x-origin'];
    response.Properties.ResponseTemplates['application/json'] = '{"path":"$context.path"}';
    expect(() => restApiSettingsFromTemplate(copy)).toThrow(/\$context\.path/);
  });

  it('refuse a rule the local web ACL cannot enforce, rather than ignoring it', () => {
    const copy = structuredClone(template);
    const acl = Object.values(copy.Resources).find((r) => r.Type === 'AWS::WAFv2::WebACL')!;
    acl.Properties.Rules[0].Statement.RateBasedStatement.ScopeDownStatement = { ByteMatchStatement: {} };
    expect(() => rateRulesFromTemplate(copy)).toThrow(/scope-down/);
    acl.Properties.Rules[0].Statement = { ManagedRuleGroupStatement: {} };
    expect(() => rateRulesFromTemplate(copy)).toThrow(/only rate-based rules/);
  });
});

describe('binary media types', () => {
  it('match a Content-Type exactly (parameters and case aside) or through a wildcard; none matches nothing', () => {
    expect(isBinaryMediaType('application/json; charset=utf-8', ['*/*'])).toBe(true);
    expect(isBinaryMediaType(undefined, ['*/*'])).toBe(true);
    expect(isBinaryMediaType('IMAGE/PNG', ['image/*'])).toBe(true);
    expect(isBinaryMediaType('image/png', ['image/png'])).toBe(true);
    expect(isBinaryMediaType('text/plain', ['image/*', 'application/octet-stream'])).toBe(false);
    expect(isBinaryMediaType(undefined, ['application/json'])).toBe(true);
    expect(isBinaryMediaType('application/json', [])).toBe(false);
  });
});

describe('LocalWebAcl', () => {
  const response = (name: string) => ({ status: 429, headers: {}, body: name });
  const rules: RateRule[] = [
    { name: 'key', priority: 0, limit: 3, windowMs: 60_000, key: { kind: 'header', name: 'authorization' }, response: response('key') },
    { name: 'ip', priority: 1, limit: 5, windowMs: 60_000, key: { kind: 'ip' }, response: response('ip') },
  ];
  const from = (sourceIp: string, authorization?: string): WebRequest => ({ sourceIp, headers: { authorization } });
  const acl = () => {
    const clock = { now: 0 };
    return { clock, acl: new LocalWebAcl(rules, () => clock.now) };
  };
  const verdicts = (check: () => { body: string } | undefined, times: number) => Array.from({ length: times }, () => check()?.body ?? 'allowed');

  it('lets a key send its limit in the window, blocks the next, and lets it go once the window has passed', () => {
    const { clock, acl: web } = acl();
    expect(verdicts(() => web.check(from('10.0.0.1', 'Bearer a')), 4)).toEqual(['allowed', 'allowed', 'allowed', 'key']);
    clock.now = 59_999;
    expect(web.check(from('10.0.0.2', 'Bearer a'))?.body).toBe('key'); // any address: the key is what counts
    clock.now = 60_000 + 59_999; // the blocked requests counted too: the window must pass after the last of them
    expect(web.check(from('10.0.0.3', 'Bearer a'))).toBeUndefined();
  });

  it('counts over the trailing window, not in fixed minutes', () => {
    const { clock, acl: web } = acl();
    for (const at of [0, 30_000, 59_000]) {
      clock.now = at;
      expect(web.check(from(`10.0.1.${at}`, 'Bearer b'))).toBeUndefined();
    }
    clock.now = 61_000; // the first has left the window; two remain
    expect(web.check(from('10.0.1.9', 'Bearer b'))).toBeUndefined();
    expect(web.check(from('10.0.1.9', 'Bearer b'))?.body).toBe('key');
  });

  it('blocks a flood of random keys from one address by the address rule', () => {
    const { acl: web } = acl();
    const answers = verdicts(() => web.check(from('10.0.2.1', `Bearer ${Math.random()}`)), 7);
    expect(answers).toEqual(['allowed', 'allowed', 'allowed', 'allowed', 'allowed', 'ip', 'ip']);
    expect(web.check(from('10.0.2.2', 'Bearer c'))).toBeUndefined(); // another address, another key
  });

  it('does not count a request the key rule blocked against the address, and counts none without the header by key', () => {
    const { acl: web } = acl();
    verdicts(() => web.check(from('10.0.3.1', 'Bearer noisy')), 6); // 3 allowed (counted by both), 3 blocked by key
    expect(web.check(from('10.0.3.1', 'Bearer quiet'))).toBeUndefined(); // the address has 4 of its 5
    expect(web.check(from('10.0.3.1'))).toBeUndefined(); // no header: only the address rule counts it, the 5th
    expect(web.check(from('10.0.3.1'))?.body).toBe('ip');
  });

  it('forgets keys whose window has passed', () => {
    const { clock, acl: web } = acl();
    for (let i = 0; i < 2000; i++) web.check(from(`10.1.${i >> 8}.${i & 255}`, `Bearer ${i}`));
    clock.now = 120_000;
    for (let i = 0; i < 1000; i++) web.check(from('10.2.0.1', `Bearer late-${i}`));
    // Nothing observable but memory: the behaviour must still be right afterwards.
    expect(web.check(from('10.1.0.0', 'Bearer 0'))).toBeUndefined();
  });
});

describe('TokenBucket', () => {
  it('allows a burst, then the rate', () => {
    let now = 0;
    const bucket = new TokenBucket({ rateLimit: 2, burstLimit: 4 }, () => now);
    expect(Array.from({ length: 5 }, () => bucket.take())).toEqual([true, true, true, true, false]);
    now = 499;
    expect(bucket.take()).toBe(false);
    now = 500;
    expect(bucket.take()).toBe(true);
    now = 60_000;
    expect(Array.from({ length: 5 }, () => bucket.take())).toEqual([true, true, true, true, false]); // never above the burst
  });
});
