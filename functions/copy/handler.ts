/** Copy Lambda: stores a finished generation in the owner's bucket (see copy-output.ts). */
import { dynamo } from '../commons/clients/dynamodb.ts';
import { s3 } from '../commons/clients/s3.ts';
import { settings } from '../commons/config.ts';
import { DynamoDbTaskStore } from '../commons/adapters/task-store.ts';
import { MediaStore } from '../commons/adapters/media-store.ts';
import type { WorkflowInput } from '../commons/adapters/workflow.ts';
import { copyOutput, type CopyDeps } from './copy-output.ts';

const deps: CopyDeps = {
  tasks: new DynamoDbTaskStore(dynamo, settings.tableName()),
  media: new MediaStore(s3, settings.bucketName()),
  maxVideoBytes: settings.maxVideoBytes(),
  downloadTimeoutMs: settings.downloadTimeoutMs(),
};

export const handler = (input: WorkflowInput) => copyOutput(input, deps);
