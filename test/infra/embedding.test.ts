/**
 * The README's embedding example (examples/embedding/app.ts) synthesizes: the gateway as a stack of another
 * app, configured by props, and a stack of that app reacting to each video the gateway stores.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { buildEmbeddingApp } from '../../examples/embedding/app.ts';

const outdir = mkdtempSync(join(tmpdir(), 'embedding-test-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('the embedding example', () => {
  const { app, gateway, consumer } = buildEmbeddingApp(outdir, { 'aws:cdk:bundling-stacks': [] });
  const assembly = app.synth();
  const gatewayTemplate = Template.fromJSON(assembly.getStackByName(gateway.stackName).template);
  const consumerTemplate = Template.fromJSON(assembly.getStackByName(consumer.stackName).template);

  it('synthesizes both stacks', () => {
    expect(assembly.stacks.map((stack) => stack.stackName).sort()).toEqual(['VideoConsumers', 'VideoGateway']);
  });

  it('configures the gateway by props: model, resolutions, capacity, deadline, alarm email', () => {
    gatewayTemplate.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ LUMA_MODEL: 'ray-flash-2', ALLOWED_RESOLUTIONS: '540p,720p,1080p', UPSTREAM_MAX_CONCURRENT: '5', GENERATION_TIMEOUT_SECONDS: '1200' }) },
    });
    gatewayTemplate.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'video-ops@example.com' });
    gatewayTemplate.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: 'VideoGateway-generation' });
  });

  it('hands the gateway’s bucket to the other stack, whose rule queues each stored video', () => {
    const bucket = gateway.getLogicalId(gateway.gateway.bucket.node.defaultChild as never);
    consumerTemplate.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: { bucket: { name: [{ 'Fn::ImportValue': Match.stringLikeRegexp(`VideoGateway:.*${bucket}`) }] }, object: { key: [{ prefix: 'generations/' }] } },
      },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] } })],
    });
  });
});
