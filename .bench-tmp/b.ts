import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
export const d = DynamoDBDocumentClient.from(new DynamoDBClient({}));
export const handler = async () => {
  const [{ S3Client }, { Upload }, { getSignedUrl }, { SFNClient }, { SecretsManagerClient }] = await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage'), import('@aws-sdk/s3-request-presigner'), import('@aws-sdk/client-sfn'), import('@aws-sdk/client-secrets-manager')]);
  return [new S3Client({}), Upload, getSignedUrl, new SFNClient({}), new SecretsManagerClient({}), d];
};
