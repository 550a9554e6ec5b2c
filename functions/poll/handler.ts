/** Poll Lambda: the workflow's loop body (see poll-task.ts). */
import { dynamo } from '../commons/clients/dynamodb.ts';
import { s3 } from '../commons/clients/s3.ts';
import { secrets } from '../commons/clients/secrets.ts';
import { sfn } from '../commons/clients/sfn.ts';
import { settings } from '../commons/config.ts';
import { S3MediaStore } from '../commons/adapters/media-store.ts';
import { configuredProvider, taskServices } from '../commons/composition-root.ts';
import { log } from '../commons/log.ts';
import { observedHandler } from '../commons/observability/observed-handler.ts';
import { traceCall, traced, tracedHandler } from '../commons/observability/tracer.ts';
import { recordMetric } from '../commons/observability/metrics.ts';
import { withGatewayErrors } from '../commons/errors.ts';
import { pollTask, type PollDeps, type PollResult } from './poll-task.ts';
import type { WorkflowInput } from '../commons/ports/workflow.ts';

const deps: PollDeps = {
  ...taskServices(traced(dynamo), settings.tableName(), traced(sfn)),
  media: new S3MediaStore(traced(s3), settings.bucketName()),
  provider: configuredProvider(traced(secrets), traceCall),
  keyframeUrlExpirySeconds: settings.keyframeUrlExpirySeconds(),
  pollIntervalSeconds: settings.pollIntervalSeconds(),
  upstreamResubmits: settings.upstreamResubmits(),
};

export const handler = observedHandler(
  tracedHandler(
    withGatewayErrors(async (input: WorkflowInput): Promise<PollResult> => {
      const result = await pollTask(input, deps);
      log({ msg: 'poll', taskId: input.taskId, next: result.next });
      // The execution ends in its Failed state: a recorded failure, not a fault of the workflow.
      if (result.next === 'failed') recordMetric('workflowFailed');
      return result;
    }),
  ),
  { correlationId: (input) => input.taskId },
);
