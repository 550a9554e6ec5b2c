/** Poll Lambda: the workflow's loop body (see poll-task.ts). */
import { dynamo } from '../commons/clients/dynamodb.ts';
import { s3 } from '../commons/clients/s3.ts';
import { secrets } from '../commons/clients/secrets.ts';
import { settings } from '../commons/config.ts';
import { S3MediaStore } from '../commons/adapters/media-store.ts';
import { configuredProvider, taskServices } from '../commons/composition-root.ts';
import { log } from '../commons/log.ts';
import { withGatewayErrors } from '../commons/errors.ts';
import { pollTask, type PollDeps, type PollResult } from './poll-task.ts';
import type { WorkflowInput } from '../commons/ports/workflow.ts';

const deps: PollDeps = {
  ...taskServices(dynamo, settings.tableName()),
  media: new S3MediaStore(s3, settings.bucketName()),
  provider: configuredProvider(secrets),
  keyframeUrlExpirySeconds: settings.keyframeUrlExpirySeconds(),
  pollIntervalSeconds: settings.pollIntervalSeconds(),
  upstreamResubmits: settings.upstreamResubmits(),
};

export const handler = withGatewayErrors(async (input: WorkflowInput): Promise<PollResult> => {
  const result = await pollTask(input, deps);
  log({ msg: 'poll', taskId: input.taskId, next: result.next });
  return result;
});
