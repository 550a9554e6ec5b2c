import { Duration } from 'aws-cdk-lib';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Rule, type IEventBus } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Construct } from 'constructs';
import { GatewayFunction } from './gateway-function.ts';
import { grantObjects } from './permissions.ts';
import { settingsEnvironment } from '../../functions/commons/settings/reader.ts';
import { DETAIL_TYPES, EVENT_SOURCE } from '../../functions/commons/domain/generation-events.ts';

export interface ExampleConsumerProps {
  /** The gateway's bucket: the consumer writes beside its videos. */
  readonly bucket: IBucket;
  /** The bus the gateway publishes to (LumaVideoGateway.eventBus). */
  readonly eventBus: IEventBus;
}

/**
 * An example of a system in the owner's account reacting to a stored video, through the gateway's events
 * only: an EventBridge rule on `Generation Completed` and a function that writes
 * `generations/{id}/metadata.json` beside the video (functions/example-consumer/). Deployed with
 * `-c exampleConsumer=true`. A consumer of your own is the same three parts: a rule with the gateway's
 * source and the detail types you want, a target, and the least privilege that target needs.
 */
export class ExampleConsumer extends Construct {
  public readonly handler: GatewayFunction;
  public readonly rule: Rule;

  constructor(scope: Construct, id: string, props: ExampleConsumerProps) {
    super(scope, id);
    this.handler = new GatewayFunction(this, 'Function', {
      handlerDir: 'example-consumer',
      description: 'Example consumer of the gateway\'s events: writes metadata.json beside each stored video',
      environment: settingsEnvironment({ bucketName: props.bucket.bucketName }),
    });
    // Only the metadata objects: it reads nothing and overwrites no video.
    grantObjects(this.handler, props.bucket, ['s3:PutObject'], 'generations/*/metadata.json');
    this.rule = new Rule(this, 'OnGenerationCompleted', {
      description: 'Example consumer of the video gateway: each stored video',
      eventBus: props.eventBus,
      eventPattern: { source: [EVENT_SOURCE], detailType: [DETAIL_TYPES.completed] },
      // EventBridge retries a failed invocation on its own schedule; the write is idempotent.
      targets: [new LambdaFunction(this.handler, { retryAttempts: 8, maxEventAge: Duration.hours(6) })],
    });
  }
}
