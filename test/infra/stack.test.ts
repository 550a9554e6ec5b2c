/**
 * The stack: the gateway under the id that keeps its logical ids (logical-ids.test.ts), and the outputs an
 * operator needs.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { synthesizeOnce, type GatewayIds } from './support/synth.ts';
import { render, type Json, type Resources } from './support/template.ts';

let template: Template;
let resources: Resources;
let ids: GatewayIds;

synthesizeOnce((synthesized) => ({ template, resources, ids } = synthesized));

describe('outputs', () => {
  it('are the API’s URL, the bucket, the table, the upstream key’s secret, the state machine, the event bus, the alarm topic and the dashboard, described', () => {
    const outputs: Record<string, Json> = template.toJSON().Outputs;
    // And the REST API's own (CDK's RestApi adds it): the same URL.
    expect(Object.keys(outputs).sort()).toEqual(['AlarmTopicArn', 'ApiRestApiEndpoint4DEFB5CC', 'ApiUrl', 'BucketName', 'DashboardName', 'EventBusName', 'StateMachineArn', 'TableName', 'UpstreamKeySecret']);
    expect(outputs.ApiRestApiEndpoint4DEFB5CC.Value).toEqual(outputs.ApiUrl.Value);
    expect(Object.fromEntries(Object.entries(outputs).map(([name, output]) => [name, output.Description]))).toEqual({
      ApiRestApiEndpoint4DEFB5CC: undefined,
      ApiUrl: 'Base URL of the API',
      BucketName: 'Where videos are stored',
      TableName: 'Tasks and API key hashes',
      UpstreamKeySecret: 'Put the Luma API key in this secret',
      StateMachineArn: undefined,
      EventBusName: "Where the gateway's events are published",
      AlarmTopicArn: 'The alarms notify this SNS topic: subscribe to it',
      DashboardName: 'The CloudWatch dashboard of the gateway',
    });
  });

  it('points each output at the right resource', () => {
    template.hasOutput('BucketName', { Value: { Ref: ids.bucket } });
    template.hasOutput('TableName', { Value: { Ref: ids.table } });
    template.hasOutput('UpstreamKeySecret', { Value: { Ref: ids.secret } });
    template.hasOutput('StateMachineArn', { Value: { Ref: ids.stateMachine } });
    template.hasOutput('EventBusName', { Value: 'default' });
    const url = render(template.toJSON().Outputs.ApiUrl.Value);
    expect(url).toBe(`https://\${${ids.restApi}}.execute-api.\${AWS::Region}.\${AWS::URLSuffix}/\${${ids.stage}}/`);
  });

  it('creates a placeholder secret for the upstream key when none is given', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    expect(resources[ids.secret!]!.Type).toBe('AWS::SecretsManager::Secret');
  });
});
