/**
 * LumaVideoGateway used as a construct, outside the app: what it exposes, an existing secret, and every
 * prop's bad values refused when the construct is built, with a message that names the setting.
 */
import { readFileSync } from 'node:fs';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LumaVideoGateway, type LumaVideoGatewayProps } from '../../infra/constructs/luma-video-gateway.ts';
import { logicalIdOf, NO_BUNDLING, removeOutdirs, tempDir } from './support/synth.ts';

afterAll(removeOutdirs);

const COMPLETE_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:luma/api-key-AbC123';

/** A stack of its own (no cdk.json context, no bundling) holding one gateway. */
function build(props?: LumaVideoGatewayProps | ((stack: Stack) => LumaVideoGatewayProps)): { stack: Stack; gateway: LumaVideoGateway } {
  const app = new App({ outdir: tempDir('gateway-props-'), context: NO_BUNDLING });
  const stack = new Stack(app, 'Video');
  const gateway = new LumaVideoGateway(stack, 'Gateway', typeof props === 'function' ? props(stack) : props);
  return { stack, gateway };
}

describe('with an existing bucket', () => {
  it('stores into it: no bucket of its own, and every grant and setting names the given one', () => {
    const { stack, gateway } = build((stack) => ({ bucket: Bucket.fromBucketName(stack, 'Mine', 'my-videos') }));
    const template = Template.fromStack(stack);
    expect(Object.keys(template.findResources('AWS::S3::Bucket'))).toEqual([]);
    expect(gateway.bucket.bucketName).toBe('my-videos');
    expect(gateway.accessLogBucket).toBeUndefined();
    const environments = Object.values(template.findResources('AWS::Lambda::Function')).map((fn) => fn.Properties.Environment.Variables);
    const named = environments.filter((variables) => 'BUCKET_NAME' in variables).map((variables) => variables.BUCKET_NAME);
    // The API, Poll and Copy, and every other function that publishes (the bucket names Generation Completed's video) or delivers webhooks.
    expect(named).toEqual(Array(6).fill('my-videos'));
    // The copy writes the videos into it, under generations/ only.
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([{ Action: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:DeleteObject'], Effect: 'Allow', Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::my-videos/generations/*']] } }]) },
    });
  });
});

describe('with its defaults', () => {
  let stack: Stack;
  let gateway: LumaVideoGateway;
  let template: Template;

  beforeAll(() => {
    ({ stack, gateway } = build());
    template = Template.fromStack(stack);
  }, 120_000);

  it('exposes its table, buckets, secret, state machines, API, web ACL, schedule and six functions, as synthesized', () => {
    const id = (type: string) => Object.keys(template.findResources(type));
    expect(id('AWS::DynamoDB::GlobalTable')).toEqual([logicalIdOf(stack, gateway.table)]);
    expect(id('AWS::S3::Bucket').sort()).toEqual([logicalIdOf(stack, gateway.bucket), logicalIdOf(stack, gateway.accessLogBucket!)].sort());
    expect(id('AWS::SecretsManager::Secret')).toEqual([logicalIdOf(stack, gateway.upstreamKey)]);
    expect(id('AWS::StepFunctions::StateMachine').sort()).toEqual([logicalIdOf(stack, gateway.stateMachine), logicalIdOf(stack, gateway.deliveryStateMachine)].sort());
    expect(id('AWS::ApiGateway::RestApi')).toEqual([logicalIdOf(stack, gateway.restApi)]);
    expect(id('AWS::WAFv2::WebACL')).toEqual([stack.getLogicalId(gateway.webAcl)]);
    expect(id('AWS::Events::Rule')).toEqual([logicalIdOf(stack, gateway.reconcileSchedule)]);
    const functions = Object.values(gateway.functions).map((fn) => logicalIdOf(stack, fn));
    expect(id('AWS::Lambda::Function').sort()).toEqual([...functions].sort());
    expect(new Set(functions).size).toBe(6);
  });

  it('its parts are the same resources', () => {
    expect(gateway.table).toBe(gateway.storage.table);
    expect(gateway.stateMachine).toBe(gateway.workflow.stateMachine);
    expect(gateway.restApi).toBe(gateway.api.restApi);
    expect(gateway.functions).toEqual({
      api: gateway.api.handler,
      poll: gateway.workflow.pollFunction,
      copy: gateway.workflow.copyFunction,
      recordFailure: gateway.workflow.recordFailureFunction,
      reconcile: gateway.workflow.reconcileFunction,
      deliverWebhook: gateway.events.deliverFunction,
    });
    expect(gateway.deliveryStateMachine).toBe(gateway.events.deliveryStateMachine);
    expect(gateway.eventBus).toBe(gateway.events.eventBus);
  });

  it('names its state machine after the stack', () => {
    expect(gateway.workflow.stateMachineName).toBe('Video-generation');
  });
});

describe('an existing secret (`upstreamKey`)', () => {
  it('is used, granted and named to the functions that read it; no secret is created', () => {
    let key: ISecret | undefined;
    const { stack, gateway } = build((scope) => ({ upstreamKey: (key = Secret.fromSecretCompleteArn(scope, 'LumaKey', COMPLETE_ARN)) }));
    expect(gateway.upstreamKey).toBe(key);
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    const resources = template.toJSON().Resources;
    for (const fn of [gateway.functions.api, gateway.functions.poll]) {
      expect(resources[logicalIdOf(stack, fn)].Properties.Environment.Variables.LUMA_API_KEY_SECRET_ARN).toBe(COMPLETE_ARN);
    }
    const reads = Object.values(template.findResources('AWS::IAM::Policy'))
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement)
      .filter((statement) => [statement.Action].flat().includes('secretsmanager:GetSecretValue'));
    expect(reads.map((statement) => statement.Resource)).toEqual([COMPLETE_ARN, COMPLETE_ARN]);
  });
});

describe('every prop is checked when the construct is built', () => {
  const notASecret = { secretArn: 'arn:aws:s3:::bucket' } as unknown as ISecret;
  const cases: [string, LumaVideoGatewayProps | ((stack: Stack) => LumaVideoGatewayProps), RegExp][] = [
    ['upstream', { upstream: 'ray-2' as never }, /^LumaVideoGateway: upstream must be an object, not "ray-2"\.$/],
    ['upstream.baseUrl', { upstream: { baseUrl: 'ftp://luma.example.test' } }, /^LumaVideoGateway: upstream\.baseUrl must be an absolute http or https URL, not "ftp:/],
    ['upstream.baseUrl', { upstream: { baseUrl: 'luma.example.test' } }, /upstream\.baseUrl must be an absolute http or https URL/],
    ['upstream.model', { upstream: { model: 'ray-3' } }, /^upstreamModel must be one of ray-2, ray-flash-2, not "ray-3"\.$/],
    ['upstream.resolution', { upstream: { resolution: '8k' } }, /^upstreamResolution must be one of/],
    ['upstream.duration', { upstream: { duration: '10s' } }, /^upstreamDuration must be one of 5s, 9s/],
    ['upstream.allowedModels', { upstream: { allowedModels: [] } }, /^allowedModels must list at least one/],
    ['upstream.allowedResolutions', { upstream: { allowedResolutions: ['8k'] } }, /^allowedResolutions may list only/],
    ['upstream.allowedDurations', { upstream: { allowedDurations: [5 as never] } }, /upstream\.allowedDurations must be a list of strings/],
    ['upstream.resubmits', { upstream: { resubmits: 6 } }, /^upstreamResubmits must be a whole number from 0 to 5/],
    ['upstreamKey', { upstreamKey: 'luma/api-key' as never }, /^LumaVideoGateway: upstreamKey must be a Secrets Manager secret \(an ISecret\)/],
    ['upstreamKey', { upstreamKey: notASecret }, /^LumaVideoGateway: upstreamKey must be a Secrets Manager secret, whose ARN is/],
    ['generationTimeout', { generationTimeout: Duration.seconds(30) }, /^generationTimeout \(generationTimeoutMinutes\) must be at least 1 minute, not 0\.5 minutes\.$/],
    ['generationTimeout', { generationTimeout: 30 as never }, /^LumaVideoGateway: generationTimeout must be a Duration, not 30\.$/],
    ['pollInterval', { pollInterval: Duration.millis(1500) }, /^pollInterval \(pollIntervalSeconds\) must be a whole number of seconds from 1 to 3600, not 1\.5\.$/],
    ['capacity.maxConcurrent', { capacity: { maxConcurrent: 0 } }, /^maxConcurrent \(upstreamMaxConcurrent\) must be a whole number from 1 to 1000, not 0\.$/],
    ['capacity.maxCreatesPerMinute', { capacity: { maxCreatesPerMinute: 1001 } }, /^maxCreatesPerMinute \(upstreamMaxCreatesPerMinute\) must be a whole number from 1 to 1000, not 1001\.$/],
    ['capacity.queueTimeout', { capacity: { queueTimeout: Duration.days(8) } }, /^queueTimeoutHours must be from 1 minute to 168 hours/],
    ['assetHostAllowlist', { assetHostAllowlist: ['ftp://files.example.test'] }, /must be an http or https origin/],
    ['assetHostAllowlist', { assetHostAllowlist: '*.cdn-luma.com' as never }, /^LumaVideoGateway: assetHostAllowlist must be a list of strings/],
    ['keyLimits.ratePerMinute', { keyLimits: { ratePerMinute: 0 } }, /^keyRatePerMinute must be a whole number from 1 to 100000, not 0\.$/],
    ['keyLimits.maxQueued', { keyLimits: { maxQueued: 100_001 } }, /^keyMaxQueued must be a whole number/],
    ['keyLimits.maxConcurrent', { keyLimits: { maxConcurrent: 1.5 } }, /^keyMaxConcurrent must be a whole number/],
    ['reconcileInterval', { reconcileInterval: Duration.seconds(90) }, /^reconcileInterval \(reconcileIntervalMinutes\) must be a whole number of minutes, at least 1, not 1\.5 minutes\.$/],
    ['reconcileInterval', { reconcileInterval: Duration.minutes(0) }, /reconcileInterval .* not 0 minutes/],
    ['publicBaseUrl', { publicBaseUrl: 'http://video.example.com' }, /^publicBaseUrl "http:\/\/video\.example\.com" is refused: PUBLIC_BASE_URL must be https/],
    ['publicBaseUrl', { publicBaseUrl: 'https://video.example.com/?a=1' }, /^publicBaseUrl .* is refused: .*no query, fragment or credentials/],
    ['clientLimits.requestsPerKey', { clientLimits: { requestsPerKey: 9 } }, /requestsPerKey must be a whole number of requests a minute from 10/],
    ['clientLimits.requestsPerAddress', { clientLimits: { requestsPerAddress: 2.5 } }, /requestsPerAddress must be a whole number/],
    ['apiThrottle.rateLimit', { apiThrottle: { rateLimit: 0 } }, /^apiRateLimit must be a number of requests a second above 0, not 0\.$/],
    ['apiThrottle.burstLimit', { apiThrottle: { burstLimit: 1.5 } }, /^apiBurstLimit must be a whole number of requests above 0, not 1\.5\.$/],
    ['apiThrottle', { apiThrottle: 500 as never }, /^LumaVideoGateway: apiThrottle must be an object, not 500\.$/],
    ['setAccountCloudWatchRole', { setAccountCloudWatchRole: 'false' as never }, /^LumaVideoGateway: setAccountCloudWatchRole must be true or false, not "false"\.$/],
    ['corsAllowedOrigins', { corsAllowedOrigins: ['*'] }, /^corsAllowedOrigins: "\*" is not an origin/],
    ['polling', { polling: true as never }, /^LumaVideoGateway: polling must be an object, not true\.$/],
    ['polling.upstreamCallbacks', { polling: { upstreamCallbacks: 'false' as never } }, /^LumaVideoGateway: polling\.upstreamCallbacks must be true or false, not "false"\.$/],
    ['polling.callbackFallback', { polling: { callbackFallback: Duration.millis(2500) } }, /^callbackFallback \(pollFallbackSeconds\) must be a whole number of seconds from 1 to 3600, not 2\.5\.$/],
    ['polling.typicalPrior', { polling: { typicalPrior: Duration.hours(2) } }, /^typicalPrior \(pollPriorSeconds\) must be .*3600/],
    ['polling.maxPollsPerTask', { polling: { maxPollsPerTask: 0 } }, /^maxPollsPerTask must be a whole number from 1 to 1000, not 0\.$/],
    ['polling.maxPollsPerTask', { polling: { maxPollsPerTask: 1000 }, pollInterval: Duration.seconds(1) }, /could take \d+ turns of the workflow's wait, more than one execution's 25000 history events hold/],
    ['eventBus', { eventBus: 'default' as never }, /^LumaVideoGateway: eventBus must be an EventBridge bus \(an IEventBus\), not "default"\.$/],
    ['alarmEmail', { alarmEmail: 'ops.example.com' }, /^alarmEmail must be an email address, not "ops\.example\.com"\.$/],
    ['bucket', { bucket: 'videos' as never }, /^LumaVideoGateway: bucket must be an S3 bucket \(an IBucket\), not "videos"\.$/],
    ['bucket', (stack: Stack) => ({ bucket: Bucket.fromBucketName(stack, 'Mine', 'my-videos'), corsAllowedOrigins: ['https://app.example.com'] }), /corsAllowedOrigins needs a CORS rule on the bucket/],
    ['alarmEmail', { alarmEmail: 42 as never }, /^LumaVideoGateway: alarmEmail must be a string, not 42\.$/],
  ];

  it.each(cases.map(([name, props, message]) => [name, message, props] as const))('%s: refused with %s', (_, message, props) => {
    expect(() => build(props)).toThrow(message);
  });

  it('every prop has a case above', () => {
    const source = readFileSync(new URL('../../infra/constructs/luma-video-gateway.ts', import.meta.url), 'utf8');
    const body = /export interface LumaVideoGatewayProps \{([\s\S]*?)\n\}/.exec(source)![1]!;
    const props = [...body.matchAll(/^ {2}readonly (\w+)\?:/gm)].map((match) => match[1]);
    const covered = new Set(cases.map(([name]) => name.split('.')[0]));
    expect(props.filter((prop) => !covered.has(prop))).toEqual([]);
  });

  it('every prop documents its default (JSDoc `@default`)', () => {
    const source = readFileSync(new URL('../../infra/constructs/luma-video-gateway.ts', import.meta.url), 'utf8');
    const body = /export interface LumaVideoGatewayProps \{([\s\S]*?)\n\}/.exec(source)![1]!;
    // Each member: its doc comment, then `readonly name?:`.
    const members = [...body.matchAll(/\/\*\*([\s\S]*?)\*\/\s*readonly (\w+)\?:/g)].map(([, doc, name]) => ({ name, doc: doc! }));
    expect(members.map(({ name }) => name)).toEqual([...body.matchAll(/^ {2}readonly (\w+)\?:/gm)].map((match) => match[1]));
    for (const { name, doc } of members) expect(doc, name).toMatch(/@default \S/);
  });

  it('good values of every kind pass', () => {
    expect(() =>
      build({
        upstream: { baseUrl: 'http://127.0.0.1:8080/v1', model: 'ray-flash-2', allowedResolutions: '540p,720p', resubmits: 0 },
        generationTimeout: Duration.minutes(45),
        pollInterval: Duration.seconds(20),
        polling: { upstreamCallbacks: false, callbackFallback: Duration.seconds(30), typicalPrior: Duration.seconds(90), maxPollsPerTask: 25 },
        capacity: { maxConcurrent: 5, maxCreatesPerMinute: 40, queueTimeout: Duration.hours(2) },
        assetHostAllowlist: ['storage.cdn-luma.com'],
        keyLimits: { ratePerMinute: 12, maxQueued: 50, maxConcurrent: 3 },
        reconcileInterval: Duration.hours(1),
        publicBaseUrl: 'https://video.example.com',
        clientLimits: { requestsPerKey: 10, requestsPerAddress: 25 },
        apiThrottle: { rateLimit: 5, burstLimit: 10 },
        setAccountCloudWatchRole: false,
        corsAllowedOrigins: ['https://app.example.test'],
      }),
    ).not.toThrow();
  });
});
