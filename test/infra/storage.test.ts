/**
 * The gateway's storage as synthesized: the video bucket, the bucket of its access logs, and the task table.
 */
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { OWNER_INDEX, PHASE_INDEX } from '../../functions/commons/adapters/task-store.ts';
import { QUEUE_INDEX } from '../../functions/commons/adapters/queue-index.ts';
import { PROJECT_FUNCTIONS, synthesizeOnce, type GatewayIds } from './support/synth.ts';
import { statementsOf, type Json, type Resources } from './support/template.ts';

let template: Template;
let resources: Resources;
let ids: GatewayIds;

synthesizeOnce((synthesized) => ({ template, resources, ids } = synthesized));

describe('bucket', () => {
  const BUCKETS = [
    ['the video bucket', () => ids.bucket],
    ['the access-log bucket', () => ids.accessLogBucket],
  ] as const;
  const bucketProps = (id: string): Json => resources[id]!.Properties;
  const bucketPolicyOf = (id: string): Json => {
    const policies = Object.values(template.findResources('AWS::S3::BucketPolicy')).filter((p) => p.Properties.Bucket?.Ref === id);
    expect(policies).toHaveLength(1);
    return policies[0]!.Properties.PolicyDocument;
  };

  it('there are exactly two buckets: the videos and their access logs', () => {
    expect(Object.keys(template.findResources('AWS::S3::Bucket')).sort()).toEqual([ids.bucket, ids.accessLogBucket].sort());
  });

  it.each(BUCKETS)('%s blocks all public access', (_, id) => {
    expect(bucketProps(id()).PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
  });

  it.each(BUCKETS)('%s encrypts objects at rest and has ACLs disabled', (_, id) => {
    expect(bucketProps(id()).BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }], // SSE-S3: S3 log delivery cannot write with a KMS key
    });
    expect(bucketProps(id()).OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
    expect(bucketProps(id()).AccessControl).toBeUndefined();
  });

  it.each(BUCKETS)('%s has a bucket policy denying requests without TLS, on the bucket and its objects', (_, id) => {
    const deny = bucketPolicyOf(id()).Statement.filter((s: Json) => s.Effect === 'Deny');
    expect(deny).toEqual([
      {
        Effect: 'Deny',
        Action: 's3:*',
        Principal: { AWS: '*' },
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        Resource: [{ 'Fn::GetAtt': [id(), 'Arn'] }, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [id(), 'Arn'] }, '/*']] }],
      },
    ]);
  });

  it.each(BUCKETS)('%s is kept when the stack is deleted', (_, id) => {
    expect(resources[id()]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  it('the video bucket’s policy allows nothing: only the TLS deny', () => {
    expect(bucketPolicyOf(ids.bucket).Statement.filter((s: Json) => s.Effect !== 'Deny')).toEqual([]);
  });

  it('aborts incomplete multipart uploads after a day', () => {
    expect(bucketProps(ids.bucket).LifecycleConfiguration.Rules).toEqual(
      expect.arrayContaining([
        { Id: 'abort-incomplete-uploads', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
      ]),
    );
  });

  it('expires uploaded keyframes under inputs/, client uploads under inputs/uploads/ after a day (and nothing else)', () => {
    const rules: Json[] = bucketProps(ids.bucket).LifecycleConfiguration.Rules;
    expect(rules).toEqual(expect.arrayContaining([expect.objectContaining({ Status: 'Enabled', Prefix: 'inputs/', ExpirationInDays: 7 })]));
    expect(rules).toEqual(expect.arrayContaining([expect.objectContaining({ Status: 'Enabled', Prefix: 'inputs/uploads/', ExpirationInDays: 1 })]));
    const expiring = rules.filter((rule) => rule.ExpirationInDays !== undefined || rule.ExpirationDate !== undefined);
    expect(expiring.map((rule) => rule.Prefix)).toEqual(['inputs/', 'inputs/uploads/']); // videos under generations/ are never expired
  });

  it('sends its events to EventBridge, set on the bucket itself (no notifications custom resource)', () => {
    expect(bucketProps(ids.bucket).NotificationConfiguration).toEqual({ EventBridgeConfiguration: { EventBridgeEnabled: true } });
    expect(template.findResources('Custom::S3BucketNotifications')).toEqual({});
  });

  it('writes server access logs to the access-log bucket, under videos/', () => {
    expect(bucketProps(ids.bucket).LoggingConfiguration).toEqual({
      DestinationBucketName: { Ref: ids.accessLogBucket },
      LogFilePrefix: 'videos/',
    });
  });

  it('the access-log bucket lets only S3 log delivery write, only under videos/, only from the video bucket of this account', () => {
    const allows = bucketPolicyOf(ids.accessLogBucket).Statement.filter((s: Json) => s.Effect !== 'Deny');
    expect(allows).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'logging.s3.amazonaws.com' },
        Action: 's3:PutObject',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [ids.accessLogBucket, 'Arn'] }, '/videos/*']] },
        Condition: {
          ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [ids.bucket, 'Arn'] } },
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
        },
      },
    ]);
  });

  it('the access-log bucket expires its logs, keeps no logs of its own and sends no events', () => {
    expect(bucketProps(ids.accessLogBucket).LifecycleConfiguration.Rules).toEqual([
      { Id: 'expire-access-logs', Status: 'Enabled', ExpirationInDays: 90 },
    ]);
    expect(bucketProps(ids.accessLogBucket).LoggingConfiguration).toBeUndefined();
    expect(bucketProps(ids.accessLogBucket).NotificationConfiguration).toBeUndefined();
  });

  it('no function may touch the access-log bucket', () => {
    for (const name of PROJECT_FUNCTIONS) {
      const text = JSON.stringify(statementsOf(template, ids.role[name])) + JSON.stringify(resources[ids.fn[name]]!.Properties.Environment);
      expect(text, name).not.toContain(ids.accessLogBucket);
    }
  });
});

describe('table', () => {
  it('has a string partition key `pk` and no sort key', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: Match.arrayWith([{ AttributeName: 'pk', AttributeType: 'S' }]),
    });
  });

  it('bills on demand', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', { BillingMode: 'PAY_PER_REQUEST' });
  });

  it('has point-in-time recovery', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      Replicas: Match.arrayWith([
        Match.objectLike({ PointInTimeRecoverySpecification: Match.objectLike({ PointInTimeRecoveryEnabled: true }) }),
      ]),
    });
  });

  it('expires items through their `expiresAt` attribute (TTL)', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  it('is kept when the stack is deleted', () => {
    template.hasResource('AWS::DynamoDB::GlobalTable', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  it('has exactly three indexes, the sparse keys-only `byPhase` (`phase`, `phaseOrder`) and `byQueue` (`queueKey`, `queueOrder`), and `byOwner` (`listKey`, `listOrder`, with `status`) the code queries', () => {
    const table = resources[ids.table]!.Properties;
    expect(table.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: 'byPhase',
        KeySchema: [
          { AttributeName: 'phase', KeyType: 'HASH' },
          { AttributeName: 'phaseOrder', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
      {
        IndexName: 'byQueue',
        KeySchema: [
          { AttributeName: 'queueKey', KeyType: 'HASH' },
          { AttributeName: 'queueOrder', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
      {
        IndexName: 'byOwner',
        KeySchema: [
          { AttributeName: 'listKey', KeyType: 'HASH' },
          { AttributeName: 'listOrder', KeyType: 'RANGE' },
        ],
        // The one attribute a list filters on (`state=`), so a filtered page reads no task it drops.
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['status'] },
      },
    ]);
    expect(table.LocalSecondaryIndexes).toBeUndefined();
    expect([...table.AttributeDefinitions].sort((a: Json, b: Json) => a.AttributeName.localeCompare(b.AttributeName))).toEqual([
      { AttributeName: 'listKey', AttributeType: 'S' },
      { AttributeName: 'listOrder', AttributeType: 'S' },
      { AttributeName: 'phase', AttributeType: 'S' },
      { AttributeName: 'phaseOrder', AttributeType: 'S' },
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'queueKey', AttributeType: 'S' },
      { AttributeName: 'queueOrder', AttributeType: 'S' },
    ]);
    expect([PHASE_INDEX, QUEUE_INDEX, OWNER_INDEX]).toEqual(['byPhase', 'byQueue', 'byOwner']); // the names the adapters query
  });
});
