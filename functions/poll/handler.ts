/** Poll Lambda: the workflow's loop body (see poll-task.ts). */
import { dynamo } from '../commons/clients/dynamodb.ts';
import { s3 } from '../commons/clients/s3.ts';
import { secrets } from '../commons/clients/secrets.ts';
import { settings } from '../commons/config.ts';
import { DynamoDbTaskStore } from '../commons/adapters/task-store.ts';
import { MediaStore } from '../commons/adapters/media-store.ts';
import { cachedSecret } from '../commons/adapters/secret.ts';
import { LumaProvider } from '../commons/providers/luma.ts';
import type { WorkflowInput } from '../commons/adapters/workflow.ts';
import { log } from '../commons/log.ts';
import { pollTask, type PollDeps, type PollResult } from './poll-task.ts';

const upstream = settings.upstream();
const deps: PollDeps = {
  tasks: new DynamoDbTaskStore(dynamo, settings.tableName()),
  media: new MediaStore(s3, settings.bucketName()),
  provider: new LumaProvider({ ...upstream, apiKey: cachedSecret(secrets, upstream.apiKeySecretId) }),
  keyframeUrlExpirySeconds: settings.keyframeUrlExpirySeconds(),
  pollIntervalSeconds: settings.pollIntervalSeconds(),
};

export async function handler(input: WorkflowInput): Promise<PollResult> {
  const result = await pollTask(input, deps);
  log({ msg: 'poll', taskId: input.taskId, next: result.next });
  return result;
}
