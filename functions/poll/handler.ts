/** Poll Lambda: one turn of the workflow's wait (see poll-task.ts). */
import { dynamo } from '../commons/clients/dynamodb.ts';
import { s3 } from '../commons/clients/s3.ts';
import { secrets } from '../commons/clients/secrets.ts';
import { sfn } from '../commons/clients/sfn.ts';
import { settings } from '../commons/config.ts';
import { S3MediaStore } from '../commons/adapters/media-store.ts';
import { DynamoDbGenerationDurations } from '../commons/adapters/generation-durations.ts';
import { configuredProvider, taskServices } from '../commons/composition-root.ts';
import { log } from '../commons/log.ts';
import { observedHandler } from '../commons/observability/observed-handler.ts';
import { traceCall, traced, tracedHandler } from '../commons/observability/tracer.ts';
import { recordMetric } from '../commons/observability/metrics.ts';
import { withGatewayErrors } from '../commons/errors.ts';
import { takeTurn, type PollDeps, type PollInput, type PollResult } from './poll-task.ts';

const tableName = settings.tableName();
const deps: PollDeps = {
  ...taskServices(traced(dynamo), tableName, traced(sfn)),
  media: new S3MediaStore(traced(s3), settings.bucketName()),
  provider: configuredProvider(traced(secrets), traceCall),
  durations: new DynamoDbGenerationDurations(dynamo, tableName),
  polling: settings.polling(),
  keyframeUrlExpirySeconds: settings.keyframeUrlExpirySeconds(),
  upstreamResubmits: settings.upstreamResubmits(),
};

/** What the wait's callback task passes: its token, the task (for the trace), and the state as it entered the wait. */
export interface PollEvent {
  taskToken: string;
  taskId: string;
  state: Omit<PollInput, 'taskToken'>;
}

export const handler = observedHandler(
  tracedHandler(
    withGatewayErrors(async (event: PollEvent): Promise<PollResult> => {
      const input: PollInput = { ...event.state, taskToken: event.taskToken };
      const result = await takeTurn(input, deps);
      log({ msg: 'poll', taskId: input.taskId, next: result.next, waitSeconds: result.waitSeconds, hold: result.hold, woke: input.woke !== undefined });
      // The execution ends in its Failed state: a recorded failure, not a fault of the workflow.
      if (result.next === 'failed') recordMetric('workflowFailed');
      return result;
    }),
  ),
  { correlationId: (event) => event.taskId },
);
