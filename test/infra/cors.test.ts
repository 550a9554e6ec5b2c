/**
 * CORS (`corsAllowedOrigins`): off by default; the origins allowed reach the API function, the bucket's rules
 * for browser uploads, and, when there is exactly one, API Gateway's and WAF's own static answers.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeOutdirs, synthesize } from './support/synth.ts';
import type { Json } from './support/template.ts';

let template: Template;
beforeAll(() => {
  ({ template } = synthesize());
}, 120_000);
afterAll(removeOutdirs);

describe('CORS (`corsAllowedOrigins`)', () => {
  const APP = 'https://app.example.test';
  const typed = (t: Template, type: string) => Object.values(t.findResources(type));
  const apiEnv = (t: Template): Record<string, Json> =>
    typed(t, 'AWS::Lambda::Function').find((f) => f.Properties.Environment?.Variables?.STATE_MACHINE_ARN && f.Properties.Environment.Variables.PUBLIC_BASE_URL)!.Properties.Environment.Variables;
  const bucketCors = (t: Template) => typed(t, 'AWS::S3::Bucket').map((b) => b.Properties.CorsConfiguration).filter(Boolean);
  const gatewayResponseHeaders = (t: Template) => typed(t, 'AWS::ApiGateway::GatewayResponse').map((r) => r.Properties.ResponseParameters ?? {});
  const wafHeaders = (t: Template) =>
    typed(t, 'AWS::WAFv2::WebACL')[0]!.Properties.Rules.map((rule: Json) => rule.Action.Block.CustomResponse.ResponseHeaders as { Name: string; Value: string }[]);

  it('is off by default: the function is told no origins, the bucket has no CORS rules, no answer names an origin', () => {
    expect(apiEnv(template).CORS_ALLOWED_ORIGINS).toBeUndefined();
    expect(bucketCors(template)).toEqual([]);
    for (const headers of gatewayResponseHeaders(template)) expect(headers['gatewayresponse.header.access-control-allow-origin']).toBeUndefined();
    for (const headers of wafHeaders(template)) expect(headers.map((h: { Name: string }) => h.Name)).not.toContain('access-control-allow-origin');
  });

  it(
    'one origin (a list in cdk.json): the function is told it, the bucket lets it PUT uploads, and API Gateway’s and WAF’s own answers name it',
    () => {
      const { template: one } = synthesize({ corsAllowedOrigins: [APP] });
      expect(apiEnv(one).CORS_ALLOWED_ORIGINS).toBe(APP);
      expect(bucketCors(one)).toEqual([
        { CorsRules: [{ Id: 'browser-uploads', AllowedOrigins: [APP], AllowedMethods: ['PUT'], AllowedHeaders: ['content-type'], MaxAge: 600 }] },
      ]);
      for (const headers of gatewayResponseHeaders(one)) {
        expect(headers['gatewayresponse.header.access-control-allow-origin']).toBe(`'${APP}'`);
        expect(headers['gatewayresponse.header.vary']).toBe("'Origin'");
      }
      for (const headers of wafHeaders(one)) expect(headers).toEqual(expect.arrayContaining([{ Name: 'access-control-allow-origin', Value: APP }]));
      // The function answers preflights: API Gateway has no OPTIONS method of its own (no MOCK integration).
      expect(typed(one, 'AWS::ApiGateway::Method').map((m) => m.Properties.HttpMethod)).toEqual(['ANY', 'ANY']);
    },
    60_000,
  );

  it(
    'several origins (separated by commas, as `-c` gives them): all told and allowed, none named by the static answers',
    () => {
      const { template: two } = synthesize({ corsAllowedOrigins: `${APP},http://localhost:5173` });
      expect(apiEnv(two).CORS_ALLOWED_ORIGINS).toBe(`${APP},http://localhost:5173`);
      expect(bucketCors(two)[0].CorsRules[0].AllowedOrigins).toEqual([APP, 'http://localhost:5173']);
      for (const headers of gatewayResponseHeaders(two)) expect(headers['gatewayresponse.header.access-control-allow-origin']).toBeUndefined();
    },
    60_000,
  );

  it.each(['*', `${APP}/`, 'app.example.test'])(
    'rejects "%s" at synth time, naming the setting',
    (origin) => {
      expect(() => synthesize({ corsAllowedOrigins: origin })).toThrow(/^Context corsAllowedOrigins: ".*" is not an origin/);
    },
    60_000,
  );
});
