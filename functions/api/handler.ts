/**
 * API Lambda: the composition root of the API function. It builds the adapters once, at cold start, and
 * hands them to the routes (routes.ts) as the ports those depend on.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { dynamo } from '../commons/clients/dynamodb.ts';
import { s3, s3Presigner } from '../commons/clients/s3.ts';
import { secrets } from '../commons/clients/secrets.ts';
import { settings } from '../commons/config.ts';
import { DynamoDbApiKeyStore } from '../commons/adapters/api-key-store.ts';
import { S3MediaStore } from '../commons/adapters/media-store.ts';
import { DynamoDbIdempotencyStore } from '../commons/adapters/idempotency-store.ts';
import { observedHandler } from '../commons/observability/observed-handler.ts';
import { DynamoDbUploadStore } from '../commons/adapters/upload-store.ts';
import { DynamoDbGenerationDurations } from '../commons/adapters/generation-durations.ts';
import { configuredProvider, taskServices } from '../commons/composition-root.ts';
import { generationRequestSchemaFor } from '../commons/domain/generation-request.ts';
import { DynamoDbDeliveryStore } from '../commons/adapters/delivery-store.ts';
import { StepFunctionsWebhookDeliveries } from '../commons/adapters/webhook-deliveries.ts';
import { sfn } from '../commons/clients/sfn.ts';
import type { HttpResponse } from './http.ts';
import { handleRequest, type ApiDeps } from './routes.ts';
import { siteDeps } from './site.ts';

const tableName = settings.tableName();
const offer = settings.generationOffer();
const media = new S3MediaStore(s3, settings.bucketName(), s3Presigner);
const services = taskServices(dynamo, tableName);
const provider = configuredProvider(secrets);
let requestSchema: ReturnType<typeof generationRequestSchemaFor> | undefined;
const deps: ApiDeps = {
  keys: new DynamoDbApiKeyStore(dynamo, tableName),
  idempotency: { store: new DynamoDbIdempotencyStore(dynamo, tableName) },
  uploads: { uploads: new DynamoDbUploadStore(dynamo, tableName), media },
  generations: {
    ...services,
    media,
    provider,
    keyframeUrlExpirySeconds: settings.keyframeUrlExpirySeconds(),
    presignExpirySeconds: settings.presignExpirySeconds(),
    publicBaseUrl: settings.publicBaseUrl(),
    offer,
  },
  callbacks: {
    tasks: services.tasks,
    provider,
    workflow: services.workflow,
    durations: new DynamoDbGenerationDurations(dynamo, tableName),
    polling: settings.polling(),
    upstreamResubmits: settings.upstreamResubmits(),
  },
  deliveries: {
    tasks: services.tasks,
    deliveries: new DynamoDbDeliveryStore(dynamo, tableName),
    webhooks: new StepFunctionsWebhookDeliveries(sfn, settings.webhookStateMachineArn()),
    retryWindowSeconds: settings.webhookRetryWindowSeconds(),
  },
  // Built on the first POST that needs it: a cold start serving a GET or a callback never builds it.
  requestSchema: { safeParse: (body) => (requestSchema ??= generationRequestSchemaFor(offer, settings.callbackPolicy())).safeParse(body) },
  corsOrigins: settings.corsAllowedOrigins(),
  site: siteDeps(offer, media),
};

export const handler = observedHandler((event: APIGatewayProxyEvent): Promise<HttpResponse> => handleRequest(event, deps));
