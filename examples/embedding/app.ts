/**
 * The gateway inside another CDK app: `LumaVideoGateway` in a stack of yours, configured with props instead
 * of `cdk.json` context, storing into a bucket you own and publishing to your own event bus, where a rule of
 * yours queues each completed generation. `test/infra/embedding.test.ts` synthesizes it.
 *
 *   npx cdk synth --app "npx tsx examples/embedding/app.ts"
 */
import { App, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { EventBus, Rule } from 'aws-cdk-lib/aws-events';
import { SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { fileURLToPath } from 'node:url';
import { LumaVideoGateway } from '../../infra/constructs/luma-video-gateway.ts';

/** Your stack: your bucket and bus, the gateway using them, and your reaction to each finished video. */
export class VideoProductStack extends Stack {
  public readonly videos: Bucket;
  public readonly bus: EventBus;
  public readonly gateway: LumaVideoGateway;
  public readonly completed: Queue;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    // A bucket the gateway does not create is not configured by it: what the gateway would set on its own
    // bucket is set here (EventBridge notifications, the inputs' expiry).
    this.videos = new Bucket(this, 'Videos', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      eventBridgeEnabled: true,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        { id: 'expire-inputs', prefix: 'inputs/', expiration: Duration.days(7) },
        { id: 'expire-uploads', prefix: 'inputs/uploads/', expiration: Duration.days(1) },
      ],
    });
    this.bus = new EventBus(this, 'ProductEvents');

    this.gateway = new LumaVideoGateway(this, 'Gateway', {
      bucket: this.videos,
      eventBus: this.bus,
      upstream: { model: 'ray-flash-2', resolution: '720p', allowedResolutions: ['540p', '720p', '1080p'] },
      capacity: { maxConcurrent: 5, maxCreatesPerMinute: 10 },
      generationTimeout: Duration.minutes(20),
      alarmEmail: 'video-ops@example.com',
    });

    this.completed = new Queue(this, 'CompletedVideos', { enforceSSL: true, encryption: QueueEncryption.SQS_MANAGED, retentionPeriod: Duration.days(4) });
    new Rule(this, 'OnCompleted', {
      description: 'Each generation the gateway completed (its video is in the bucket)',
      eventBus: this.bus,
      eventPattern: { source: ['luma-video-gateway'], detailType: ['Generation Completed'] },
      targets: [new SqsQueue(this.completed)],
    });
  }
}

export function buildEmbeddingApp(outdir?: string, context: Record<string, unknown> = {}): { app: App; stack: VideoProductStack } {
  const app = new App({ outdir, context });
  const env = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };
  const stack = new VideoProductStack(app, 'VideoProduct', { env });
  return { app, stack };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) buildEmbeddingApp().app.synth();
