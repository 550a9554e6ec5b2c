/**
 * AWS clients, built once per container at module scope and shared by every invocation.
 * Endpoints come from the SDK's standard variables (AWS_ENDPOINT_URL_DYNAMODB, …_S3, …_SFN,
 * …_SECRETS_MANAGER), which is how the local runtime points the same bundles at its emulators.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

export const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
  marshallOptions: { removeUndefinedValues: true },
});

// Path-style addressing is for S3-compatible stores (the local emulator, MinIO); AWS uses virtual hosts.
export const s3 = new S3Client({ forcePathStyle: process.env.S3_FORCE_PATH_STYLE === 'true' });

export const sfn = new SFNClient({});

export const secrets = new SecretsManagerClient({});
