/**
 * Each AWS client lives in its own module, built once per container, so a function bundles only the
 * clients it imports. DynamoDB's is built at module scope (every invocation of every function reads a
 * task or a key); the others on their first use (lazy-client.ts). Endpoints come from the SDK's standard
 * variables (AWS_ENDPOINT_URL_DYNAMODB, …_S3, …_SFN, …_SECRETS_MANAGER): that is how the local runtime
 * points the same bundles at its emulators.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { surfaceTransientErrors } from './transient-errors.ts';

// The document client shares the base client's middleware stack: throttling surfaces from both as TransientAwsError.
export const dynamo = DynamoDBDocumentClient.from(surfaceTransientErrors(new DynamoDBClient({}), 'DynamoDB'), {
  marshallOptions: { removeUndefinedValues: true },
});
