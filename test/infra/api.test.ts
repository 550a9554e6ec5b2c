/**
 * The REST API as synthesized: one regional API whose `/` and `/{proxy+}` send everything to the API function,
 * binary bodies, API Gateway's own answers in the API's error shape, one stage and its logs. The web ACL and
 * the stage's throttle are in api-protection.test.ts.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { synthesizeOnce, type GatewayIds, type ProjectFunction } from './support/synth.ts';
import { render, type Json, type Resources } from './support/template.ts';

let template: Template;
let resources: Resources;
let ids: GatewayIds;

synthesizeOnce((synthesized) => ({ template, resources, ids } = synthesized));

const fnProps = (name: ProjectFunction): Json => resources[ids.fn[name]]!.Properties;

describe('REST API', () => {
  it('is regional, with one resource besides the root: {proxy+}', () => {
    template.resourceCountIs('AWS::ApiGateway::RestApi', 1);
    expect(resources[ids.restApi]!.Properties.EndpointConfiguration).toEqual({ Types: ['REGIONAL'] });
    template.resourceCountIs('AWS::ApiGateway::Resource', 1);
    template.hasResourceProperties('AWS::ApiGateway::Resource', { RestApiId: { Ref: ids.restApi }, PathPart: '{proxy+}' });
  });

  it('has ANY on / and on /{proxy+}, each a proxy integration of the API function with a 29 s timeout', () => {
    const methods = Object.values(template.findResources('AWS::ApiGateway::Method'));
    expect(methods).toHaveLength(2);
    for (const method of methods) {
      expect(method.Properties).toMatchObject({ RestApiId: { Ref: ids.restApi }, HttpMethod: 'ANY', AuthorizationType: 'NONE' });
      expect(method.Properties.Integration).toMatchObject({ Type: 'AWS_PROXY', IntegrationHttpMethod: 'POST', TimeoutInMillis: 29_000 });
      expect(render(method.Properties.Integration.Uri)).toContain(`:lambda:path/2015-03-31/functions/\${${ids.fn.Api}.Arn}/invocations`);
    }
    expect(fnProps('Api').Timeout).toBe(29);
  });

  it('takes every media type as binary, so each body reaches the function Base64-encoded (4/3 of its size, never escaped)', () => {
    expect(resources[ids.restApi]!.Properties.BinaryMediaTypes).toEqual(['*/*']);
  });

  it('answers what API Gateway refuses itself in the API’s error shape: one gateway response per type, no more', () => {
    const responses = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse'));
    const byType = Object.fromEntries(responses.map((r) => [r.Properties.ResponseType, r.Properties]));
    expect(Object.keys(byType).sort()).toEqual(['DEFAULT_4XX', 'DEFAULT_5XX', 'INTEGRATION_FAILURE', 'INTEGRATION_TIMEOUT', 'REQUEST_TOO_LARGE', 'THROTTLED']);
    const expected: Record<string, [string | undefined, string]> = {
      REQUEST_TOO_LARGE: ['413', 'payload_too_large'],
      THROTTLED: ['429', 'rate_limited'],
      INTEGRATION_TIMEOUT: ['504', 'gateway_timeout'],
      INTEGRATION_FAILURE: ['502', 'internal'],
      DEFAULT_4XX: [undefined, 'request_refused'],
      DEFAULT_5XX: [undefined, 'internal'],
    };
    for (const [type, [status, code]] of Object.entries(expected)) {
      const response = byType[type];
      expect(response.RestApiId, type).toEqual({ Ref: ids.restApi });
      expect(response.StatusCode, type).toBe(status);
      expect(response.ResponseParameters['gatewayresponse.header.cache-control'], type).toBe("'no-store'");
      const template: string = response.ResponseTemplates['application/json'];
      // API Gateway fills in the request id and its own message (already a quoted JSON string): then it is JSON.
      const rendered = JSON.parse(template.replace('$context.requestId', 'req-1').replace('$context.error.messageString', '"Forbidden"'));
      expect(rendered, type).toEqual({ error: { code, message: expect.any(String), details: { request_id: 'req-1' } } });
    }
    expect(byType.THROTTLED.ResponseParameters['gatewayresponse.header.retry-after']).toBe("'1'");
    expect(byType.REQUEST_TOO_LARGE.ResponseTemplates['application/json']).toContain('at most 4325376 bytes (4.125 MiB)');
  });

  it('has one stage, whose name the function’s own URL uses', () => {
    template.resourceCountIs('AWS::ApiGateway::Stage', 1);
    template.hasResourceProperties('AWS::ApiGateway::Stage', { RestApiId: { Ref: ids.restApi }, StageName: 'prod' });
  });

  it('writes access logs and error-level execution logs to log groups that keep them 30 days', () => {
    const stage = Object.values(template.findResources('AWS::ApiGateway::Stage'))[0]!;
    const logGroupId = stage.Properties.AccessLogSetting.DestinationArn['Fn::GetAtt'][0];
    expect(resources[logGroupId]).toMatchObject({ Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: 30 } });
    const executionLogs = Object.values(resources).find((r) => r.Type === 'AWS::Logs::LogGroup' && render(r.Properties?.LogGroupName ?? '').startsWith('API-Gateway-Execution-Logs_'));
    expect(render(executionLogs!.Properties.LogGroupName)).toBe(`API-Gateway-Execution-Logs_\${${ids.restApi}}/prod`);
    expect(executionLogs!.Properties.RetentionInDays).toBe(30);
  });
});
