import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, Billing, ProjectionType, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { BlockPublicAccess, Bucket, BucketEncryption, type CfnBucket, type IBucket, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface StorageProps {
  /**
   * What happens to the bucket and table when the stack is deleted. They hold the owner's videos and
   * task history, so they are kept unless the owner says otherwise.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /** Days after which uploaded keyframes (`inputs/`) are deleted; the upstream needs them only while generating. @default 7 */
  readonly inputRetentionDays?: number;
  /** Days the bucket's server access logs are kept. @default 90 */
  readonly accessLogRetentionDays?: number;
  /**
   * An existing bucket to store videos in, instead of a new one. The gateway writes under `generations/`
   * and `inputs/` only, but it cannot configure a bucket it does not own: turn on its EventBridge
   * notifications (for S3 event consumers), expire `inputs/` and `inputs/uploads/`, and log its access
   * yourself, as README "Embedding" says. @default a new bucket, with its access-log bucket
   */
  readonly bucket?: IBucket;
}

/** The task table, the owner's video bucket, and the bucket holding the video bucket's access logs. */
export class Storage extends Construct {
  public readonly table: TableV2;
  public readonly bucket: IBucket;
  /** Where the video bucket's access logs go; none when the bucket was given. */
  public readonly accessLogBucket?: Bucket;

  constructor(scope: Construct, id: string, props: StorageProps = {}) {
    super(scope, id);
    // S3 delivers access logs through a bucket policy, not the LogDeliveryWrite ACL, which buckets with
    // ACLs disabled (BUCKET_OWNER_ENFORCED) cannot have. A feature flag, set here so the construct
    // does not depend on the app's cdk.json.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const inputRetentionDays = props.inputRetentionDays ?? 7;
    const accessLogRetentionDays = props.accessLogRetentionDays ?? 90;
    for (const [name, days] of Object.entries({ inputRetentionDays, accessLogRetentionDays })) {
      if (!Number.isInteger(days) || days < 1) throw new Error(`${name} must be a whole number of days ≥ 1, not ${days}.`);
    }

    // One table: `TASK#<id>`, `APIKEY#<sha256>`, `OWNER#<owner>` (an owner's queue counters), upstream
    // `SLOT#<n>` and `RATE#<minute>` items, and `IDEMPOTENCY#…` records.
    this.table = new TableV2(this, 'Table', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      billing: Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'expiresAt',
      removalPolicy,
      // Tasks, keys and history: a delete of the table by hand must be a deliberate, two-step act.
      deletionProtection: true,
      // Three sparse indexes, keys only but for one attribute (each use needs ids, then reads the items consistently):
      globalSecondaryIndexes: [
        // Unfinished tasks that have left the queue carry `phase`: the reconciler's work list.
        {
          indexName: 'byPhase',
          partitionKey: { name: 'phase', type: AttributeType.STRING },
          sortKey: { name: 'phaseOrder', type: AttributeType.STRING },
          projectionType: ProjectionType.KEYS_ONLY,
        },
        // Queued tasks, one partition per owner in ticket order, and the owners with tasks waiting, one
        // partition of tenants (functions/commons/adapters/queue-index.ts).
        {
          indexName: 'byQueue',
          partitionKey: { name: 'queueKey', type: AttributeType.STRING },
          sortKey: { name: 'queueOrder', type: AttributeType.STRING },
          projectionType: ProjectionType.KEYS_ONLY,
        },
        // Every task, one partition per owner in arrival order (`TASKS#<owner>`, `<createdAt>#<id>`): the
        // API's list, newest first. `status` rides along, so a list filtered by state reads no task it drops.
        // Derived attributes like the others', so the index holds tasks only (API keys and uploads also carry
        // `owner` and `createdAt`); a task recorded before it gets them at its next write, which a finished
        // one never has: such tasks are not listed.
        {
          indexName: 'byOwner',
          partitionKey: { name: 'listKey', type: AttributeType.STRING },
          sortKey: { name: 'listOrder', type: AttributeType.STRING },
          projectionType: ProjectionType.INCLUDE,
          nonKeyAttributes: ['status'],
        },
      ],
    });

    if (props.bucket) {
      this.bucket = props.bucket;
      return;
    }

    // Server access logs of the video bucket (who read or wrote which object), hardened like it: private,
    // encrypted (SSE-S3: S3 log delivery cannot write with a KMS key), TLS only, no ACLs. S3 delivers into
    // it through the bucket policy CDK adds: PutObject under `videos/`, for the video bucket only.
    this.accessLogBucket = new Bucket(this, 'AccessLogBucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(accessLogRetentionDays) }],
    });

    const bucket = new Bucket(this, 'Bucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'videos/',
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
      lifecycleRules: [
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        { id: 'expire-inputs', prefix: 'inputs/', expiration: Duration.days(inputRetentionDays) },
        // What clients upload is read once, when a generation names it (within the hour it may be named),
        // and copied into the task's own keyframe: a day is the shortest expiry S3 has.
        { id: 'expire-uploads', prefix: 'inputs/uploads/', expiration: Duration.days(1) },
      ],
    });
    // S3 → EventBridge: rules and other systems react to every stored video without touching this stack.
    // Set on the bucket itself rather than with `eventBridgeEnabled`, which deploys a custom resource (a
    // Lambda function with its own role) only to make the same API call. Adding S3 event notifications to
    // this bucket through CDK (`addEventNotification`) would bring that custom resource back, and it would
    // replace this configuration: add `eventBridgeEnabled: true` then.
    (bucket.node.defaultChild as CfnBucket).notificationConfiguration = {
      eventBridgeConfiguration: { eventBridgeEnabled: true },
    };
    this.bucket = bucket;
  }
}
