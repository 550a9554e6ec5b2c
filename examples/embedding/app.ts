/**
 * The gateway inside another CDK app: its own stack beside yours, configured with props instead of
 * `cdk.json` context, and your stack reacting to each video it stores (an EventBridge rule on the gateway's
 * bucket, delivering to your SQS queue). `test/infra/embedding.test.ts` synthesizes it.
 *
 *   npx cdk synth --app "npx tsx examples/embedding/app.ts"
 */
import { App, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Rule } from 'aws-cdk-lib/aws-events';
import { SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { fileURLToPath } from 'node:url';
import { GatewayStack } from '../../infra/gateway-stack.ts';

/** Your own stack: it is handed the gateway's bucket, and queues an event for each stored video. */
export class VideoConsumerStack extends Stack {
  public readonly queue: Queue;

  constructor(scope: Construct, id: string, props: StackProps & { videos: IBucket }) {
    super(scope, id, props);
    this.queue = new Queue(this, 'StoredVideos', { enforceSSL: true, encryption: QueueEncryption.SQS_MANAGED, retentionPeriod: Duration.days(4) });
    new Rule(this, 'OnStoredVideo', {
      description: 'Each video the gateway stores (the bucket sends its events to EventBridge)',
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: { bucket: { name: [props.videos.bucketName] }, object: { key: [{ prefix: 'generations/' }] } },
      },
      targets: [new SqsQueue(this.queue)],
    });
  }
}

export function buildEmbeddingApp(outdir?: string, context: Record<string, unknown> = {}): { app: App; gateway: GatewayStack; consumer: VideoConsumerStack } {
  const app = new App({ outdir, context });
  const env = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };
  const gateway = new GatewayStack(app, 'VideoGateway', {
    env,
    upstream: { model: 'ray-flash-2', resolution: '720p', allowedResolutions: ['540p', '720p', '1080p'] },
    capacity: { maxConcurrent: 5, maxCreatesPerMinute: 10 },
    generationTimeout: Duration.minutes(20),
    alarmEmail: 'video-ops@example.com',
  });
  const consumer = new VideoConsumerStack(app, 'VideoConsumers', { env, videos: gateway.gateway.bucket });
  return { app, gateway, consumer };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) buildEmbeddingApp().app.synth();
