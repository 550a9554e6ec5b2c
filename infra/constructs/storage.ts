import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, Billing, ProjectionType, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
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
}

/** The task table and the owner's video bucket. */
export class Storage extends Construct {
  public readonly table: TableV2;
  public readonly bucket: Bucket;

  constructor(scope: Construct, id: string, props: StorageProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const inputRetentionDays = props.inputRetentionDays ?? 7;
    if (!Number.isInteger(inputRetentionDays) || inputRetentionDays < 1) {
      throw new Error(`inputRetentionDays must be a whole number of days ≥ 1, not ${inputRetentionDays}.`);
    }

    // One table: `TASK#<id>`, `APIKEY#<sha256>`, upstream `SLOT#<n>` and `RATE#<minute>` items, and
    // `IDEMPOTENCY#…` records. `owner` and `createdAt` are plain attributes, so an index for listing an
    // owner's tasks can be added later without rewriting items.
    this.table = new TableV2(this, 'Table', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      billing: Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'expiresAt',
      removalPolicy,
      // Sparse: only unfinished tasks carry `phase`. The waiting line for upstream slots (oldest first)
      // and the reconciler's work list; keys only, since both need just the task ids.
      globalSecondaryIndexes: [
        {
          indexName: 'byPhase',
          partitionKey: { name: 'phase', type: AttributeType.STRING },
          sortKey: { name: 'phaseOrder', type: AttributeType.STRING },
          projectionType: ProjectionType.KEYS_ONLY,
        },
      ],
    });

    this.bucket = new Bucket(this, 'Bucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // S3 → EventBridge: rules and other systems react to every stored video without touching this stack.
      eventBridgeEnabled: true,
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
      lifecycleRules: [
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        { id: 'expire-inputs', prefix: 'inputs/', expiration: Duration.days(inputRetentionDays) },
      ],
    });
  }
}
