/** Copy Lambda: stores a finished generation in the owner's bucket (see copy-output.ts). */
import type { Context } from 'aws-lambda';
import { dynamo } from '../commons/clients/dynamodb.ts';
import { s3 } from '../commons/clients/s3.ts';
import { settings } from '../commons/config.ts';
import { copyTaskServices } from '../commons/composition-root.ts';
import { S3MediaStore } from '../commons/adapters/media-store.ts';
import { AssetPolicy } from '../commons/policy/asset-policy.ts';
import { GuardedAssetDownloader } from '../commons/adapters/asset-downloader.ts';
import { withGatewayErrors } from '../commons/errors.ts';
import { copyOutput, type CopyDeps } from './copy-output.ts';
import type { WorkflowInput } from '../commons/ports/workflow.ts';
import { observedHandler } from '../commons/observability/observed-handler.ts';
import { traced, tracedHandler } from '../commons/observability/tracer.ts';

const deps: CopyDeps = {
  ...copyTaskServices(traced(dynamo), settings.tableName()),
  media: new S3MediaStore(traced(s3), settings.bucketName()),
  maxVideoBytes: settings.maxVideoBytes(),
  downloadTimeoutMs: settings.downloadTimeoutMs(),
  downloads: new GuardedAssetDownloader(AssetPolicy.parse(settings.assetHostAllowlist())),
};

// Downloads are budgeted from this invocation's remaining time, so the copy never runs past its timeout.
export const handler = observedHandler(
  tracedHandler(
    withGatewayErrors((input: WorkflowInput, context: Pick<Context, 'getRemainingTimeInMillis'>) =>
      copyOutput(input, { ...deps, remainingTimeMs: () => context.getRemainingTimeInMillis() }),
    ),
  ),
  { correlationId: (input) => input.taskId },
);
