import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template as CdkTemplate } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import {
  findResources,
  resolveIntrinsics,
  stateMachineDefinition,
  type ResourceValues,
  type Template,
} from '../../local/cloudformation-intrinsics.ts';

const pseudo = { region: 'eu-west-1', accountId: '123456789012' };
const values: ResourceValues = {
  Bucket: { ref: 'my-bucket', attributes: { Arn: 'arn:aws:s3:::my-bucket', 'RegionalDomainName': 'my-bucket.s3.eu-west-1.amazonaws.com' } },
  Db: { ref: 'db-1', attributes: { 'Endpoint.Address': 'db.local' } },
  Fn: { ref: 'fn-name', attributes: { Arn: 'arn:aws:lambda:eu-west-1:123456789012:function:fn-name' } },
};

function resolve(value: unknown): unknown {
  return resolveIntrinsics(value, values, pseudo);
}

describe('Ref', () => {
  it('resolves logical ids to their physical ref', () => {
    expect(resolve({ Ref: 'Bucket' })).toBe('my-bucket');
  });

  it('resolves pseudo parameters, deriving partition and URL suffix from the region', () => {
    expect(resolve({ Ref: 'AWS::Region' })).toBe('eu-west-1');
    expect(resolve({ Ref: 'AWS::AccountId' })).toBe('123456789012');
    expect(resolve({ Ref: 'AWS::Partition' })).toBe('aws');
    expect(resolve({ Ref: 'AWS::URLSuffix' })).toBe('amazonaws.com');
    expect(resolveIntrinsics({ Ref: 'AWS::Partition' }, {}, { region: 'cn-north-1', accountId: '1' })).toBe('aws-cn');
    expect(resolveIntrinsics({ Ref: 'AWS::URLSuffix' }, {}, { ...pseudo, urlSuffix: 'example.test' })).toBe('example.test');
    expect(resolveIntrinsics({ Ref: 'AWS::StackName' }, {}, { ...pseudo, stackName: 'Gateway' })).toBe('Gateway');
  });

  it('removes AWS::NoValue from objects and arrays', () => {
    expect(resolve({ keep: 'x', drop: { Ref: 'AWS::NoValue' }, list: ['a', { Ref: 'AWS::NoValue' }, 'b'] })).toEqual({
      keep: 'x',
      list: ['a', 'b'],
    });
    expect(resolve({ Ref: 'AWS::NoValue' })).toBeUndefined();
  });

  it('throws naming the unknown logical id', () => {
    expect(() => resolve({ Ref: 'Missing' })).toThrow(/"Missing"/);
    expect(() => resolve({ deep: [{ Ref: 'AlsoMissing' }] })).toThrow(/"AlsoMissing".*\$\.deep\[0\]/);
  });

  it('throws on pseudo parameters it cannot know', () => {
    expect(() => resolveIntrinsics({ Ref: 'AWS::Region' }, {})).toThrow(/pseudo parameters/);
    expect(() => resolve({ Ref: 'AWS::StackName' })).toThrow(/stackName/);
    expect(() => resolve({ Ref: 'AWS::NotificationARNs' })).toThrow(/unsupported/);
  });
});

describe('Fn::GetAtt', () => {
  it('supports the array and the dotted form, with dots inside attribute names', () => {
    expect(resolve({ 'Fn::GetAtt': ['Bucket', 'Arn'] })).toBe('arn:aws:s3:::my-bucket');
    expect(resolve({ 'Fn::GetAtt': 'Bucket.Arn' })).toBe('arn:aws:s3:::my-bucket');
    expect(resolve({ 'Fn::GetAtt': 'Db.Endpoint.Address' })).toBe('db.local');
    expect(resolve({ 'Fn::GetAtt': ['Db', 'Endpoint.Address'] })).toBe('db.local');
  });

  it('throws naming the unknown logical id or attribute', () => {
    expect(() => resolve({ 'Fn::GetAtt': ['Nope', 'Arn'] })).toThrow(/"Nope"/);
    expect(() => resolve({ 'Fn::GetAtt': ['Bucket', 'WebsiteURL'] })).toThrow(/"Bucket".*"WebsiteURL"/);
    expect(() => resolve({ 'Fn::GetAtt': 'NoDot' })).toThrow(/Fn::GetAtt expects/);
  });
});

describe('Fn::Join, Fn::Select, Fn::Split', () => {
  it('joins resolved values, including nested intrinsics and numbers', () => {
    expect(resolve({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::', { Ref: 'Bucket' }, '/*']] })).toBe(
      'arn:aws:s3:::my-bucket/*',
    );
    expect(resolve({ 'Fn::Join': ['-', ['a', 1, true]] })).toBe('a-1-true');
  });

  it('selects by index from literal and computed lists', () => {
    expect(resolve({ 'Fn::Select': [1, ['a', 'b', 'c']] })).toBe('b');
    expect(resolve({ 'Fn::Select': ['0', { 'Fn::Split': [':', { 'Fn::GetAtt': ['Fn', 'Arn'] }] }] })).toBe('arn');
    expect(resolve({ 'Fn::Select': [6, { 'Fn::Split': [':', { 'Fn::GetAtt': ['Fn', 'Arn'] }] }] })).toBe('fn-name');
    expect(() => resolve({ 'Fn::Select': [3, ['a']] })).toThrow(/out of range/);
  });

  it('splits, and joining a split gives back the original string', () => {
    expect(resolve({ 'Fn::Split': ['.', 'a.b.c'] })).toEqual(['a', 'b', 'c']);
    fc.assert(
      fc.property(fc.string(), fc.string({ minLength: 1, maxLength: 3 }), (source, delimiter) => {
        expect(resolve({ 'Fn::Join': [delimiter, { 'Fn::Split': [delimiter, source] }] })).toBe(source);
      }),
    );
  });

  it('rejects objects where strings are required', () => {
    expect(() => resolve({ 'Fn::Join': ['', [{ nested: 'object' }]] })).toThrow(/expects a string/);
    expect(() => resolve({ 'Fn::Join': ['', 'not-a-list'] })).toThrow(/list/);
  });
});

describe('Fn::Sub', () => {
  it('substitutes refs, attributes and pseudo parameters in the string form', () => {
    expect(resolve({ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::${Bucket}/${AWS::Region}/${Db.Endpoint.Address}' })).toBe(
      'arn:aws:s3:::my-bucket/eu-west-1/db.local',
    );
  });

  it('prefers explicit variables, which may themselves be intrinsics', () => {
    expect(
      resolve({ 'Fn::Sub': ['${Bucket}|${Name}|${Arn}', { Bucket: 'override', Name: 'n', Arn: { 'Fn::GetAtt': ['Fn', 'Arn'] } }] }),
    ).toBe('override|n|arn:aws:lambda:eu-west-1:123456789012:function:fn-name');
  });

  it('keeps ${!Literal} as a literal ${Literal}', () => {
    expect(resolve({ 'Fn::Sub': '${!Bucket} and ${Bucket}' })).toBe('${Bucket} and my-bucket');
  });

  it('throws naming unknown ids', () => {
    expect(() => resolve({ 'Fn::Sub': 'x-${Ghost}' })).toThrow(/"Ghost"/);
    expect(() => resolve({ 'Fn::Sub': 'x-${Ghost.Arn}' })).toThrow(/"Ghost"/);
  });
});

describe('unsupported intrinsics and plain values', () => {
  it('throws a clear error for conditions', () => {
    expect(() => resolve({ 'Fn::If': ['IsProd', 'a', 'b'] })).toThrow(/Fn::If is unsupported/);
    expect(() => resolve({ 'Fn::Equals': ['a', 'b'] })).toThrow(/unsupported/);
  });

  it('passes plain values through and only treats single-key objects as intrinsics', () => {
    expect(resolve({ a: 1, b: [true, null], c: 'x' })).toEqual({ a: 1, b: [true, null], c: 'x' });
    expect(resolve({ Ref: 'Bucket', Other: 1 })).toEqual({ Ref: 'Bucket', Other: 1 });
    expect(resolve({ 'Fn::Base64': 'hi' })).toBe('aGk=');
  });

  it('resolves intrinsics nested inside intrinsics inside plain structures', () => {
    const policy = {
      Statement: [
        { Action: 's3:GetObject', Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Bucket', 'Arn'] }, '/*']] } },
        { Action: 'lambda:InvokeFunction', Resource: { 'Fn::Sub': ['${F}:*', { F: { 'Fn::GetAtt': 'Fn.Arn' } }] } },
      ],
    };
    expect(resolve(policy)).toEqual({
      Statement: [
        { Action: 's3:GetObject', Resource: 'arn:aws:s3:::my-bucket/*' },
        { Action: 'lambda:InvokeFunction', Resource: 'arn:aws:lambda:eu-west-1:123456789012:function:fn-name:*' },
      ],
    });
  });
});

describe('stateMachineDefinition and findResources', () => {
  const asl = { StartAt: 'A', States: { A: { Type: 'Pass', End: true } } };

  function templateWith(properties: Record<string, unknown>): Template {
    return {
      Resources: {
        Machine: { Type: 'AWS::StepFunctions::StateMachine', Properties: properties },
        Bucket: { Type: 'AWS::S3::Bucket' },
      },
    };
  }

  it('parses a plain DefinitionString, a Definition object and an Fn::Join DefinitionString', () => {
    expect(stateMachineDefinition(templateWith({ DefinitionString: JSON.stringify(asl) }), 'Machine', values, pseudo)).toEqual(asl);
    expect(
      stateMachineDefinition(
        templateWith({ Definition: { StartAt: 'A', States: { A: { Type: 'Pass', Result: { Ref: 'Bucket' }, End: true } } } }),
        'Machine',
        values,
        pseudo,
      ).States.A.Result,
    ).toBe('my-bucket');
    const joined = { 'Fn::Join': ['', ['{"StartAt":"A","States":{"A":{"Type":"Pass","Result":"', { Ref: 'Bucket' }, '","End":true}}}']] };
    expect(stateMachineDefinition(templateWith({ DefinitionString: joined }), 'Machine', values, pseudo).States.A.Result).toBe('my-bucket');
  });

  it('applies DefinitionSubstitutions', () => {
    const template = templateWith({
      DefinitionString: '{"StartAt":"A","States":{"A":{"Type":"Pass","Result":"${BucketName}","End":true}}}',
      DefinitionSubstitutions: { BucketName: { Ref: 'Bucket' } },
    });
    expect(stateMachineDefinition(template, 'Machine', values, pseudo).States.A.Result).toBe('my-bucket');
  });

  it('throws for missing or mistyped resources and invalid JSON', () => {
    expect(() => stateMachineDefinition(templateWith({}), 'Nope', values, pseudo)).toThrow(/"Nope"/);
    expect(() => stateMachineDefinition(templateWith({}), 'Bucket', values, pseudo)).toThrow(/AWS::S3::Bucket/);
    expect(() => stateMachineDefinition(templateWith({ DefinitionString: '{nope' }), 'Machine', values, pseudo)).toThrow(/not valid JSON/);
  });

  it('finds resources by type', () => {
    expect(findResources(templateWith({}), 'AWS::S3::Bucket').map(([id]) => id)).toEqual(['Bucket']);
    expect(findResources(templateWith({}), 'AWS::SQS::Queue')).toEqual([]);
  });
});

describe('a real CDK template', () => {
  it('resolves the Fn::Join DefinitionString CDK emits for a LambdaInvoke state machine', () => {
    // The built-in CloudFormation validation plugin costs ~3.5 s per synth and is not under test.
    const app = new App({ builtinCloudFormationValidation: false });
    const stack = new Stack(app, 'Tiny', { env: { region: 'eu-west-1', account: '123456789012' } });
    const fn = new lambda.Function(stack, 'Poller', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async (event) => event;'),
    });
    const wait = new sfn.Wait(stack, 'Wait', { time: sfn.WaitTime.secondsPath('$.waitSeconds') });
    const poll = new tasks.LambdaInvoke(stack, 'Poll', { lambdaFunction: fn, outputPath: '$.Payload' });
    new sfn.StateMachine(stack, 'Machine', {
      definitionBody: sfn.DefinitionBody.fromChainable(wait.next(poll)),
      timeout: Duration.minutes(5),
    });
    const template = CdkTemplate.fromStack(stack).toJSON() as Template;

    const [[machineId]] = findResources(template, 'AWS::StepFunctions::StateMachine') as [[string, unknown]];
    const [[fnId]] = findResources(template, 'AWS::Lambda::Function') as [[string, unknown]];
    const functionArn = 'arn:aws:lambda:eu-west-1:123456789012:function:poller';
    const definition = stateMachineDefinition(template, machineId, { [fnId]: { ref: 'poller', attributes: { Arn: functionArn } } }, {
      region: 'eu-west-1',
      accountId: '123456789012',
    });

    expect(definition.StartAt).toBe('Wait');
    expect(definition.TimeoutSeconds).toBe(300);
    expect(definition.States.Wait.SecondsPath).toBe('$.waitSeconds');
    expect(definition.States.Poll.Resource).toBe('arn:aws:states:::lambda:invoke');
    expect(definition.States.Poll.Parameters).toEqual({ FunctionName: functionArn, 'Payload.$': '$' });

    // Without a value for the function the resolution must fail loudly, naming it.
    expect(() => stateMachineDefinition(template, machineId, {}, { region: 'eu-west-1', accountId: '1' })).toThrow(fnId);
  });
});
