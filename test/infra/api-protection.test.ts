/**
 * What stands in front of the API function, as synthesized: the AWS WAF web ACL on the REST API's stage (a
 * rate rule per key and one per address, each answering 429 in the API's error shape), the stage's throttle,
 * its logs, and who may invoke the function. Also: the limits come from CDK context, and bad ones fail synth.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayIds, removeOutdirs, synthesize } from './support/synth.ts';
import { only, type Json } from './support/template.ts';

afterAll(removeOutdirs);

const rule = (template: Template, name: string): Json =>
  only(template, 'AWS::WAFv2::WebACL')[1].Properties.Rules.find((r: Json) => r.Name === name);
const methodSettings = (template: Template): Json =>
  only(template, 'AWS::ApiGateway::Stage')[1].Properties.MethodSettings.find((s: Json) => s.ResourcePath === '/*' && s.HttpMethod === '*');

let template: Template;
let ids: { restApi: string; stage: string; webAcl: string; apiFunction: string };

beforeAll(() => {
  const synthesized = synthesize();
  template = synthesized.template;
  const { restApi, stage, webAcl, fn } = gatewayIds(synthesized.stack);
  ids = { restApi, stage, webAcl, apiFunction: fn.Api };
}, 60_000);

describe('the web ACL', () => {
  it('is regional, lets through what no rule blocks, and publishes metrics but keeps no sampled requests (they hold the Authorization header)', () => {
    const [, acl] = only(template, 'AWS::WAFv2::WebACL');
    expect(acl.Properties).toMatchObject({ Scope: 'REGIONAL', DefaultAction: { Allow: {} } });
    const visibilities = [acl.Properties.VisibilityConfig, ...acl.Properties.Rules.map((r: Json) => r.VisibilityConfig)];
    for (const visibility of visibilities) expect(visibility).toMatchObject({ CloudWatchMetricsEnabled: true, SampledRequestsEnabled: false });
    expect(acl.Properties.Rules.map((r: Json) => [r.Priority, r.Name])).toEqual([
      [0, 'PerKeyRate'],
      [1, 'PerAddressRate'],
    ]);
  });

  it('limits each Authorization header value, exactly as sent, to 3000 requests a minute', () => {
    expect(rule(template, 'PerKeyRate').Statement).toEqual({
      RateBasedStatement: {
        Limit: 3000,
        EvaluationWindowSec: 60,
        AggregateKeyType: 'CUSTOM_KEYS',
        CustomKeys: [{ Header: { Name: 'authorization', TextTransformations: [{ Priority: 0, Type: 'NONE' }] } }],
      },
    });
  });

  it('limits each client address to 6000 requests a minute, whatever the keys', () => {
    expect(rule(template, 'PerAddressRate').Statement).toEqual({ RateBasedStatement: { Limit: 6000, EvaluationWindowSec: 60, AggregateKeyType: 'IP' } });
  });

  it.each([
    ['PerKeyRate', 'rate_limited_key', /with this API key: at most 3000 a minute/],
    ['PerAddressRate', 'rate_limited_address', /from this address: at most 6000 a minute/],
  ])('%s blocks with 429, Retry-After and a JSON body in the API’s error shape', (name, bodyKey, message) => {
    expect(rule(template, name).Action).toEqual({
      Block: {
        CustomResponse: {
          ResponseCode: 429,
          CustomResponseBodyKey: bodyKey,
          ResponseHeaders: [
            { Name: 'retry-after', Value: '60' },
            { Name: 'cache-control', Value: 'no-store' },
          ],
        },
      },
    });
    const body = only(template, 'AWS::WAFv2::WebACL')[1].Properties.CustomResponseBodies[bodyKey];
    expect(body.ContentType).toBe('APPLICATION_JSON');
    expect(JSON.parse(body.Content)).toEqual({ error: { code: 'rate_limited', message: expect.stringMatching(message) } });
  });

  it('is associated with the API’s one stage', () => {
    const [, association] = only(template, 'AWS::WAFv2::WebACLAssociation');
    expect(association.Properties.WebACLArn).toEqual({ 'Fn::GetAtt': [ids.webAcl, 'Arn'] });
    expect(association.Properties.ResourceArn).toEqual({
      'Fn::Join': [
        '',
        ['arn:', { Ref: 'AWS::Partition' }, ':apigateway:', { Ref: 'AWS::Region' }, '::/restapis/', { Ref: ids.restApi }, '/stages/', { Ref: ids.stage }],
      ],
    });
  });
});

describe('the stage', () => {
  it('throttles all clients together at 500 requests a second, bursts of 1000: a ceiling for the account', () => {
    expect(methodSettings(template)).toMatchObject({ ThrottlingRateLimit: 500, ThrottlingBurstLimit: 1000 });
  });

  it('logs errors only, never request or response data', () => {
    expect(methodSettings(template)).toMatchObject({ LoggingLevel: 'ERROR', DataTraceEnabled: false });
  });

  it('writes one JSON access log line per request, with WAF’s verdict and no header, query string or path', () => {
    const format: string = only(template, 'AWS::ApiGateway::Stage')[1].Properties.AccessLogSetting.Format;
    for (const variable of ['requestId', 'identity.sourceIp', 'httpMethod', 'resourcePath', 'status', 'responseLatency', 'integrationErrorMessage', 'wafResponseCode', 'error.messageString']) {
      expect(format).toContain(`$context.${variable}`);
    }
    expect(format).not.toMatch(/authorization|header|querystring|\$input|\$method\.request|\$context\.path\b|identity\.apiKey/i);
    // With every variable replaced by a value (messageString comes quoted), the line is JSON.
    const line = format.replace(/\$context\.error\.messageString/g, '"message"').replace(/\$context\.[\w.]+/g, 'x');
    expect(Object.keys(JSON.parse(line))).toContain('wafResponseCode');
  });

  it('sets API Gateway’s logging role for the account, retained with the stack’s deletion; a role with an inline policy', () => {
    const [accountId, account] = only(template, 'AWS::ApiGateway::Account');
    expect(account.DeletionPolicy).toBe('Retain');
    const roleId = account.Properties.CloudWatchRoleArn['Fn::GetAtt'][0];
    const role = template.toJSON().Resources[roleId];
    expect(role.DeletionPolicy).toBe('Retain');
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'apigateway.amazonaws.com' } },
    ]);
    expect(only(template, 'AWS::ApiGateway::Stage')[1].DependsOn).toContain(accountId);
  });
});

describe('who may invoke the API function', () => {
  it('API Gateway, for this API’s stage only, through one permission', () => {
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission')).filter(
      (p: Json) => p.Properties.FunctionName['Fn::GetAtt']?.[0] === ids.apiFunction,
    );
    expect(permissions).toHaveLength(1);
    expect(permissions[0].Properties).toEqual({
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [ids.apiFunction, 'Arn'] },
      Principal: 'apigateway.amazonaws.com',
      SourceArn: {
        'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':execute-api:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':', { Ref: ids.restApi }, '/prod/*/*']],
      },
    });
  });
});

describe('settings', () => {
  it('take the per-client limits and the stage’s throttle from context', () => {
    const { template: custom } = synthesize({ clientRequestsPerMinute: 10, ipRequestsPerMinute: '25', apiRateLimit: 5, apiBurstLimit: 10 });
    expect(rule(custom, 'PerKeyRate').Statement.RateBasedStatement.Limit).toBe(10);
    expect(rule(custom, 'PerAddressRate').Statement.RateBasedStatement.Limit).toBe(25);
    expect(methodSettings(custom)).toMatchObject({ ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 });
    const bodies = only(custom, 'AWS::WAFv2::WebACL')[1].Properties.CustomResponseBodies;
    expect(JSON.parse(bodies.rate_limited_key.Content).error.message).toContain('at most 10 a minute');
  });

  it.each([
    [{ clientRequestsPerMinute: 9 }, /requestsPerKey must be a whole number of requests a minute from 10/],
    [{ ipRequestsPerMinute: 100.5 }, /requestsPerAddress must be a whole number/],
    [{ clientRequestsPerMinute: 'many' }, /Context clientRequestsPerMinute must be a number/],
    [{ apiRateLimit: 0 }, /apiRateLimit must be a number of requests a second above 0/],
    [{ apiBurstLimit: 1.5 }, /apiBurstLimit must be a whole number/],
    [{ apiGatewayCloudWatchRole: 'maybe' }, /apiGatewayCloudWatchRole must be true or false/],
  ])('refuse %j', (context, message) => {
    expect(() => synthesize(context)).toThrow(message);
  });

  it('`apiGatewayCloudWatchRole: false` leaves the account’s logging role alone', () => {
    const { template: custom } = synthesize({ apiGatewayCloudWatchRole: 'false' });
    custom.resourceCountIs('AWS::ApiGateway::Account', 0);
    const roles = Object.values(custom.findResources('AWS::IAM::Role')) as Json[];
    expect(roles.filter((role) => role.Properties.AssumeRolePolicyDocument.Statement[0].Principal.Service === 'apigateway.amazonaws.com')).toEqual([]);
  });
});
