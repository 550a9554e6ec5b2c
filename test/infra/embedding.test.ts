/**
 * The README's embedding example (examples/embedding/app.ts) synthesizes: LumaVideoGateway in another app's
 * stack, configured by props, storing into that stack's bucket and publishing to its bus, where its rule
 * queues each completed generation.
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
  const { app, stack } = buildEmbeddingApp(outdir, { 'aws:cdk:bundling-stacks': [] });
  const assembly = app.synth();
  const template = Template.fromJSON(assembly.getStackByName(stack.stackName).template);
  const ref = (construct: { node: { defaultChild?: unknown } }) => ({ Ref: stack.getLogicalId(construct.node.defaultChild as never) });

  it('stores into the given bucket: the only bucket is the app’s own, and the functions name it', () => {
    expect(Object.keys(template.findResources('AWS::S3::Bucket'))).toEqual([stack.getLogicalId(stack.videos.node.defaultChild as never)]);
    expect(stack.gateway.bucket).toBe(stack.videos);
    const named = Object.values(template.findResources('AWS::Lambda::Function'))
      .map((fn) => fn.Properties.Environment?.Variables?.BUCKET_NAME)
      .filter(Boolean);
    expect(named).toHaveLength(6); // every function that reads or writes objects, or links to them
    for (const name of named) expect(name).toEqual(ref(stack.videos));
  });

  it('publishes to the given bus, which the app’s rule listens on for completed generations', () => {
    expect(stack.gateway.eventBus).toBe(stack.bus);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 'events:PutEvents', Resource: { 'Fn::GetAtt': [stack.getLogicalId(stack.bus.node.defaultChild as never), 'Arn'] } })]) },
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: ref(stack.bus),
      EventPattern: { source: ['luma-video-gateway'], 'detail-type': ['Generation Completed'] },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [stack.getLogicalId(stack.completed.node.defaultChild as never), 'Arn'] } })],
    });
  });

  it('configures the gateway by props: model, resolutions, capacity, deadline, alarm email', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ LUMA_MODEL: 'ray-flash-2', ALLOWED_RESOLUTIONS: '540p,720p,1080p', UPSTREAM_MAX_CONCURRENT: '5', GENERATION_TIMEOUT_SECONDS: '1200' }) },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'video-ops@example.com' });
  });
});
