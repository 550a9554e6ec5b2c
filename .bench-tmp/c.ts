import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
export const d = DynamoDBDocumentClient.from(new DynamoDBClient({}));
export const handler = () => d;
