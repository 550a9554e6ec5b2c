/**
 * Events and webhooks as synthesized: the webhook delivery workflow (its loop, retries, timeout, and what
 * its role may invoke), the bus every publisher may put events on (the default one, or one named), and the
 * example consumer: off by default, and when on, one rule on Generation Completed whose function may write
 * metadata objects and nothing else.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Storage } from '../../infra/constructs/storage.ts';
import { GatewayFunction } from '../../infra/constructs/gateway-function.ts';
import { GenerationEvents } from '../../infra/constructs/generation-events.ts';
import { gatewayIds, logicalIdOf, NO_BUNDLING, PUBLISHING_FUNCTIONS, removeOutdirs, synthesize, tempDir, type GatewayIds, type Synthesized } from './support/synth.ts';
import { definitionOf, grantsOf, render, type Json, type Resources } from './support/template.ts';

let synthesized: Synthesized;
let template: Template;
let resources: Resources;
let ids: GatewayIds;

beforeAll(() => {
  synthesized = synthesize();
  ({ template, resources } = synthesized);
  ids = gatewayIds(synthesized.stack);
}, 120_000);
afterAll(removeOutdirs);

describe('the webhook delivery workflow', () => {
  it('loops Attempt → Next attempt? → Wait (the attempt’s waitSeconds) → Attempt, until the attempt says done', () => {
    const definition = definitionOf(template, '-webhooks');
    expect(definition.StartAt).toBe('Attempt');
    const { Attempt: attempt, 'Next attempt?': choice, Wait: wait, Done: done } = definition.States;
    expect(attempt).toMatchObject({ Type: 'Task', Resource: 'arn:${AWS::Partition}:states:::lambda:invoke', OutputPath: '$.Payload', Next: 'Next attempt?' });
    expect(attempt.Parameters).toEqual({ FunctionName: `\${${ids.fn.DeliverWebhook}.Arn}`, Payload: { 'deliveryId.$': '$.deliveryId', 'run.$': '$.run' } });
    expect(choice).toEqual({ Type: 'Choice', Choices: [{ Variable: '$.next', StringEquals: 'wait', Next: 'Wait' }], Default: 'Done' });
    expect(wait).toEqual({ Type: 'Wait', SecondsPath: '$.waitSeconds', Next: 'Attempt' });
    expect(done).toEqual({ Type: 'Succeed' });
  });

  it('repeats an attempt whose invocation failed (it is safe to repeat), then gives the run up as failed', () => {
    const { Attempt: attempt } = definitionOf(template, '-webhooks').States;
    const errors = attempt.Retry.flatMap((retrier: Json) => retrier.ErrorEquals);
    for (const error of ['Lambda.ServiceException', 'Sandbox.Timedout', 'Lambda.Unknown', 'TransientAwsError', 'Lambda.TooManyRequestsException']) expect(errors).toContain(error);
    for (const retrier of attempt.Retry) expect(retrier.JitterStrategy).toBe('FULL');
    expect(attempt.Catch).toEqual([{ ErrorEquals: ['States.ALL'], Next: 'Delivery failed' }]);
    expect(definitionOf(template, '-webhooks').States['Delivery failed']).toMatchObject({ Type: 'Fail', Error: 'DeliveryFailed' });
  });

  it('is a Standard workflow named after the stack, whose backstop outlasts a day of retries, traced and logged without data', () => {
    const machine = resources[ids.deliveryStateMachine]!.Properties;
    expect(machine).toMatchObject({ StateMachineName: 'LumaVideoGateway-webhooks', StateMachineType: 'STANDARD', TracingConfiguration: { Enabled: true } });
    expect(machine.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: false });
    expect(definitionOf(template, '-webhooks').TimeoutSeconds).toBe(24 * 3600 + 3600 + 3600);
  });

  it('may invoke the deliver function alone (and its qualified ARNs)', () => {
    const role = resources[ids.deliveryStateMachine]!.Properties.RoleArn['Fn::GetAtt'][0];
    const invoked = grantsOf(template, role, 'lambda');
    expect(invoked).toEqual([`lambda:InvokeFunction on \${${ids.fn.DeliverWebhook}.Arn}`, `lambda:InvokeFunction on \${${ids.fn.DeliverWebhook}.Arn}:*`]);
  });

  it('refuses a retry window shorter than a day or longer than a week', () => {
    const build = (webhookRetryWindow: Duration) => {
      const stack = new Stack(new App({ outdir: tempDir('gateway-events-window-'), context: NO_BUNDLING }), 'Window');
      const storage = new Storage(stack, 'Storage');
      const api = new GatewayFunction(stack, 'Api', { handlerDir: 'api' });
      new GenerationEvents(stack, 'Events', { table: storage.table, bucket: storage.bucket, publishers: [api], api, webhookRetryWindow });
    };
    expect(() => build(Duration.hours(12))).toThrow(/webhookRetryWindow must be from 24 hours to 168 hours, not 12 hours/);
    expect(() => build(Duration.days(8))).toThrow(/webhookRetryWindow must be/);
    expect(() => build(Duration.days(2))).not.toThrow();
  });
});

describe('the bus', () => {
  it('is the account’s default one unless named: the only event bus resource is none', () => {
    expect(template.findResources('AWS::Events::EventBus')).toEqual({});
  });

  it.each([
    ['my-bus', 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/my-bus', 'my-bus'],
    ['arn:aws:events:eu-west-1:123456789012:event-bus/shared', 'arn:aws:events:eu-west-1:123456789012:event-bus/shared', 'shared'],
  ])('`-c eventBusName=%s`: every publisher may PutEvents on that bus only, and is told it', (context, arn, name) => {
    const { stack, template: named } = synthesize({ eventBusName: context }, { nag: false });
    const namedIds = gatewayIds(stack);
    for (const fn of PUBLISHING_FUNCTIONS) {
      expect(grantsOf(named, namedIds.role[fn], 'events'), fn).toEqual([`events:PutEvents on ${arn}`]);
      expect(render(named.toJSON().Resources[namedIds.fn[fn]].Properties.Environment.Variables.EVENT_BUS_NAME), fn).toBe(name);
    }
    expect(grantsOf(named, namedIds.role.DeliverWebhook, 'events')).toEqual([]);
  });

  it('refuses an eventBusName that is neither a name nor an event bus ARN', () => {
    expect(() => synthesize({ eventBusName: 'arn:aws:sqs:us-east-1:123456789012:queue' }, { nag: false })).toThrow(/eventBusName must be/);
    expect(() => synthesize({ eventBusName: 'my bus' }, { nag: false })).toThrow(/eventBusName must be/);
  });
});

describe('the example consumer', () => {
  it('is off by default: no rule but the reconciler’s schedule, no function of its own', () => {
    expect(synthesized.stack.exampleConsumer).toBeUndefined();
    const rules = Object.keys(template.findResources('AWS::Events::Rule'));
    expect(rules).toEqual([ids.reconcileSchedule]);
    expect(Object.keys(template.findResources('AWS::Lambda::Function')).sort()).toEqual(Object.values(ids.fn).sort());
  });

  it('with `-c exampleConsumer=true`: a rule on Generation Completed from the gateway, on its bus, invoking its own function (cdk-nag passes)', () => {
    const { stack, template: withConsumer, resources: all } = synthesize({ exampleConsumer: 'true' });
    const consumer = stack.exampleConsumer!;
    const ruleId = logicalIdOf(stack, consumer.rule);
    const fnId = logicalIdOf(stack, consumer.handler);
    expect(all[ruleId]!.Properties).toMatchObject({
      EventBusName: 'default',
      State: 'ENABLED',
      EventPattern: { source: ['luma-video-gateway'], 'detail-type': ['Generation Completed'] },
    });
    expect(all[ruleId]!.Properties.Targets).toEqual([
      { Arn: { 'Fn::GetAtt': [fnId, 'Arn'] }, Id: 'Target0', RetryPolicy: { MaximumEventAgeInSeconds: 6 * 3600, MaximumRetryAttempts: 8 } },
    ]);
    const permissions = Object.values(withConsumer.findResources('AWS::Lambda::Permission')).filter((p) => p.Properties.FunctionName['Fn::GetAtt'][0] === fnId);
    expect(permissions.map((p) => p.Properties)).toEqual([
      { Action: 'lambda:InvokeFunction', FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] }, Principal: 'events.amazonaws.com', SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] } },
    ]);
    // It may write metadata objects, and nothing else of the gateway's.
    const role = logicalIdOf(stack, consumer.handler.role!);
    const grants = grantsOf(withConsumer, role).filter((grant) => !/^(xray|logs):/.test(grant));
    expect(grants).toEqual([`s3:PutObject on \${${gatewayIds(stack).bucket}.Arn}/generations/*/metadata.json`]);
    expect(all[fnId]!.Properties.Environment.Variables).toEqual({ NODE_OPTIONS: '--enable-source-maps', BUCKET_NAME: { Ref: gatewayIds(stack).bucket } });
  });
});
