/**
 * `npm run package`: the template the AWS console creates a stack from, and the zips it names. Packaged once
 * into a temp dir (bundling the five functions, as the real command does), then read as CloudFormation would:
 * no trace of CDK's bootstrap, every parameter described and bound where its value is used, every code
 * location a zip that is there. `--publish` is tried against the local S3 emulator on 127.0.0.1.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ASSETS_DIR, TEMPLATE_FILE, packageGateway, type PackageResult } from '../../infra/packaging/package.ts';
import { GENERATION_TIMEOUT_MINUTES } from '../../infra/packaging/console-parameters.ts';
import { launchStackUrl, publish } from '../../infra/packaging/publish.ts';
import { buildApp } from '../../infra/app.ts';
import { UPSTREAM_KEY_PLACEHOLDER_SECRET } from '../../functions/commons/domain/upstream-key.ts';
import { startS3, type Emulator } from '../../local/emulators.ts';
import { LOCAL_REGION, localCredentials } from '../../local/local-aws.ts';

let outDir: string;
let result: PackageResult;
let text: string;
type Resource = PackageResult['template']['Resources'][string];
const resources = (type: string): [string, Resource][] => Object.entries(result.template.Resources).filter(([, r]) => r.Type === type);
const parameter = (name: string) => (result.template.Parameters as Record<string, Record<string, unknown>>)[name]!;

beforeAll(() => {
  outDir = mkdtempSync(join(tmpdir(), 'package-test-'));
  result = packageGateway({ outDir });
  text = readFileSync(join(outDir, TEMPLATE_FILE), 'utf8');
}, 300_000);

afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe('the packaged template', () => {
  it('has no bootstrap reference: no BootstrapVersion parameter, no CheckBootstrapVersion rule, no cdk-hnb659fds name', () => {
    expect(text).not.toContain('BootstrapVersion');
    expect(text).not.toContain('CheckBootstrapVersion');
    expect(text).not.toContain('cdk-hnb659fds');
    expect(text).not.toContain('hnb659fds');
    expect(result.template.Rules).toBeUndefined();
    expect(JSON.parse(text)).toEqual(result.template);
  });

  it('has exactly the console parameters, each with a description', () => {
    expect(Object.keys(result.template.Parameters ?? {}).sort()).toEqual(
      [
        'LumaApiKey',
        'UpstreamModel',
        'UpstreamResolution',
        'UpstreamDuration',
        'UpstreamMaxConcurrent',
        'UpstreamMaxCreatesPerMinute',
        'GenerationTimeoutMinutes',
        'AlarmEmail',
        'AssetsBucket',
        'AssetsPrefix',
      ].sort(),
    );
    for (const [name, value] of Object.entries(result.template.Parameters as Record<string, { Description?: string }>)) {
      expect(value.Description?.length ?? 0, name).toBeGreaterThan(40);
    }
  });

  it('offers what cdk deploy would deploy as each default, and only values the gateway accepts', () => {
    expect(parameter('LumaApiKey')).toMatchObject({ Type: 'String', NoEcho: true, Default: '' });
    expect(parameter('UpstreamModel')).toMatchObject({ Default: 'ray-2', AllowedValues: ['ray-2', 'ray-flash-2'] });
    expect(parameter('UpstreamResolution')).toMatchObject({ Default: '720p', AllowedValues: ['540p', '720p', '1080p', '4k'] });
    expect(parameter('UpstreamDuration')).toMatchObject({ Default: '5s', AllowedValues: ['5s', '9s'] });
    expect(parameter('UpstreamMaxConcurrent')).toMatchObject({ Type: 'Number', Default: 10, MinValue: 1, MaxValue: 1000 });
    expect(parameter('UpstreamMaxCreatesPerMinute')).toMatchObject({ Type: 'Number', Default: 20, MinValue: 1, MaxValue: 1000 });
    expect(parameter('GenerationTimeoutMinutes')).toMatchObject({ Default: '30', AllowedValues: GENERATION_TIMEOUT_MINUTES.map(String) });
    expect(parameter('AlarmEmail')).toMatchObject({ Default: '' });
    expect(parameter('AssetsPrefix')).toMatchObject({ Default: '' });
    expect(parameter('AssetsBucket').Default).toBeUndefined();
    for (const [name, pattern, good, bad] of [
      ['AlarmEmail', parameter('AlarmEmail').AllowedPattern, ['', 'ops@example.com'], ['ops', 'a b@example.com']],
      ['AssetsBucket', parameter('AssetsBucket').AllowedPattern, ['my-artifacts', 'a.b-c'], ['', 'My_Bucket']],
      ['AssetsPrefix', parameter('AssetsPrefix').AllowedPattern, ['', 'luma-video-gateway/0.1.0/'], ['no-slash']],
    ] as const) {
      for (const value of good) expect(new RegExp(String(pattern)).test(value), `${name} ${value}`).toBe(true);
      for (const value of bad) expect(new RegExp(String(pattern)).test(value), `${name} ${value}`).toBe(false);
    }
  });

  it('reads every function’s code from AssetsBucket, under AssetsPrefix, as a zip that dist/assets holds', () => {
    const zips = readdirSync(join(outDir, ASSETS_DIR));
    const functions = resources('AWS::Lambda::Function');
    expect(functions).toHaveLength(6); // the five of the generation and the webhook deliverer
    for (const [id, fn] of functions) {
      const { S3Bucket, S3Key } = fn.Properties.Code;
      expect(S3Bucket, id).toEqual({ Ref: 'AssetsBucket' });
      expect(S3Key['Fn::Join'][1][0], id).toEqual({ Ref: 'AssetsPrefix' });
      const zip = S3Key['Fn::Join'][1][1] as string;
      expect(zips, id).toContain(zip);
      // A Lambda zip: the handler's module at its root, readable once unzipped.
      const entries = unzipSync(readFileSync(join(outDir, ASSETS_DIR, zip)));
      expect(Object.keys(entries), id).toContain('index.mjs');
      expect(fn.Properties.Handler).toBe('index.handler');
    }
    expect(zips.sort()).toEqual(result.assets.map((asset) => asset.zipName).sort());
  });

  it('stores LumaApiKey in the secret, or keeps the placeholder when it is empty', () => {
    const [[, secret]] = resources('AWS::SecretsManager::Secret') as [[string, Resource]];
    expect(secret.Properties.SecretString).toEqual({ 'Fn::If': ['LumaApiKeyGiven', { Ref: 'LumaApiKey' }, UPSTREAM_KEY_PLACEHOLDER_SECRET] });
    expect((result.template.Conditions as Record<string, unknown>).LumaApiKeyGiven).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'LumaApiKey' }, ''] }] });
    expect(text).not.toContain('GenerateSecretString');
  });

  it('binds each setting into every function that reads it, and nowhere keeps the synthesized value', () => {
    const bindings: [string, unknown][] = [
      ['LUMA_MODEL', { Ref: 'UpstreamModel' }],
      ['LUMA_RESOLUTION', { Ref: 'UpstreamResolution' }],
      ['LUMA_DURATION', { Ref: 'UpstreamDuration' }],
      ['UPSTREAM_MAX_CONCURRENT', { Ref: 'UpstreamMaxConcurrent' }],
      ['UPSTREAM_MAX_CREATES_PER_MINUTE', { Ref: 'UpstreamMaxCreatesPerMinute' }],
      ['GENERATION_TIMEOUT_SECONDS', { 'Fn::FindInMap': ['GenerationTimeouts', { Ref: 'GenerationTimeoutMinutes' }, 'Seconds'] }],
    ];
    for (const [variable, value] of bindings) {
      const having = resources('AWS::Lambda::Function').filter(([, fn]) => variable in fn.Properties.Environment.Variables);
      expect(having.length, variable).toBeGreaterThan(0);
      for (const [id, fn] of having) expect(fn.Properties.Environment.Variables[variable], `${id} ${variable}`).toEqual(value);
    }
  });

  it('moves the state machine’s timeout with the deadline, keeping the allowance cdk deploy gives the copy', () => {
    const [[, machine]] = resources('AWS::StepFunctions::StateMachine') as [[string, Resource]];
    const parts = machine.Properties.DefinitionString['Fn::Join'][1] as unknown[];
    expect(parts).toContainEqual({ 'Fn::FindInMap': ['GenerationTimeouts', { Ref: 'GenerationTimeoutMinutes' }, 'MachineSeconds'] });
    // The default's row must give what the stack synthesized for `cdk deploy` (30 minutes).
    const { app, stack } = buildApp({ outdir: mkdtempSync(join(tmpdir(), 'package-test-deploy-')), nag: false, context: { 'aws:cdk:bundling-stacks': [] } });
    const deployed = JSON.stringify(app.synth().getStackByName(stack.stackName).template);
    const deployedTimeout = Number(/\\"TimeoutSeconds\\":(\d+)/.exec(deployed)?.[1]);
    const mapping = (result.template.Mappings as Record<string, Record<string, { Seconds: string; MachineSeconds: string }>>).GenerationTimeouts!;
    expect(mapping['30']).toEqual({ Seconds: '1800', MachineSeconds: String(deployedTimeout) });
    for (const minutes of GENERATION_TIMEOUT_MINUTES) {
      const row = mapping[String(minutes)]!;
      expect(Number(row.MachineSeconds) - Number(row.Seconds)).toBe(deployedTimeout - 1800);
    }
  });

  it('subscribes AlarmEmail to the alarm topic only when it is given', () => {
    const subscriptions = resources('AWS::SNS::Subscription');
    expect(subscriptions).toHaveLength(1);
    const [[id, subscription]] = subscriptions as [[string, Resource & { Condition?: string }]];
    expect(subscription).toMatchObject({ Condition: 'AlarmEmailGiven', Properties: { Protocol: 'email', Endpoint: { Ref: 'AlarmEmail' } } });
    expect(subscription.Properties.TopicArn, id).toEqual({ Ref: resources('AWS::SNS::Topic')[0]![0] });
  });

  it('passes the same cdk-nag checks: AwsSolutions ran on it and left nothing unacknowledged', () => {
    const [nag] = result.validationReports.filter((report) => report.pluginName === 'AwsSolutions');
    expect(nag).toBeDefined();
    expect(nag!.violations).toEqual([]);
    expect(nag!.conclusion).toBe('success');
    expect(nag!.suppressedViolations?.length).toBeGreaterThan(0);
  });
});

describe('npm run package -- --publish', () => {
  let s3: Emulator;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'package-publish-'));
    s3 = await startS3(dataDir, localCredentials(dataDir), 'artifacts', () => undefined);
  });
  afterAll(async () => {
    await s3?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('uploads the zips and then the template under the prefix, and prints a Launch stack URL that names them', async () => {
    const client = new S3Client({ endpoint: s3.endpoint, region: LOCAL_REGION, credentials: localCredentials(dataDir), forcePathStyle: true });
    const published = await publish({ distDir: outDir, bucket: 'artifacts', prefix: 'gateway/0.1.0/', region: 'eu-west-1', s3: client });
    expect(published.keys.at(-1)).toBe(`gateway/0.1.0/${TEMPLATE_FILE}`);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'artifacts', Prefix: 'gateway/0.1.0/' }));
    expect((listed.Contents ?? []).map((object) => object.Key).sort()).toEqual(
      [...result.assets.map((asset) => `gateway/0.1.0/${asset.zipName}`), `gateway/0.1.0/${TEMPLATE_FILE}`].sort(),
    );
    const stored = await client.send(new GetObjectCommand({ Bucket: 'artifacts', Key: `gateway/0.1.0/${TEMPLATE_FILE}` }));
    expect(await stored.Body!.transformToString()).toBe(text);

    expect(published.templateUrl).toBe(`https://artifacts.s3.eu-west-1.amazonaws.com/gateway/0.1.0/${TEMPLATE_FILE}`);
    const url = new URL(published.launchStackUrl);
    expect(url.origin).toBe('https://eu-west-1.console.aws.amazon.com');
    const query = new URLSearchParams(url.hash.split('?')[1]);
    expect(Object.fromEntries(query)).toEqual({
      templateURL: published.templateUrl,
      stackName: 'LumaVideoGateway',
      param_AssetsBucket: 'artifacts',
      param_AssetsPrefix: 'gateway/0.1.0/',
    });
    expect(launchStackUrl(published.templateUrl, 'eu-west-1', 'artifacts', 'gateway/0.1.0/', 'LumaVideoGateway')).toBe(published.launchStackUrl);
  });

  it('refuses a prefix that does not end with a slash (the template joins it to each zip name)', async () => {
    const client = new S3Client({ endpoint: s3.endpoint, region: LOCAL_REGION, credentials: localCredentials(dataDir), forcePathStyle: true });
    await expect(publish({ distDir: outDir, bucket: 'artifacts', prefix: 'gateway', region: 'eu-west-1', s3: client })).rejects.toThrow(/end with a slash/);
  });
});
