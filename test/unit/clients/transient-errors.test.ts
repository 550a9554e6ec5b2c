/**
 * Throttling and service faults of the AWS services the functions use surface as one error,
 * TransientAwsError, which the workflow retries; every other service error passes through unchanged.
 * The clients here are real SDK clients whose HTTP handler answers from memory: nothing leaves the process.
 */
import { describe, expect, it } from 'vitest';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { surfaceTransientErrors, transientAwsError } from '../../../functions/commons/clients/transient-errors.ts';
import { TransientAwsError } from '../../../functions/commons/errors.ts';

/** An HTTP handler that answers every request with this AWS JSON error, counting the requests. */
function answering(status: number, type: string) {
  const handler = {
    requests: 0,
    async handle() {
      handler.requests++;
      const body = new TextEncoder().encode(JSON.stringify({ __type: `com.amazonaws.service#${type}`, message: `${type} said so` }));
      return { response: { statusCode: status, reason: '', headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-errortype': type }, body } };
    },
  };
  return handler;
}

const config = (requestHandler: object) => ({
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:9',
  credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'not-a-secret' },
  maxAttempts: 2,
  requestHandler: requestHandler as never,
});

function documentClient(handler: object) {
  return DynamoDBDocumentClient.from(surfaceTransientErrors(new DynamoDBClient(config(handler)), 'DynamoDB'));
}

describe('surfaceTransientErrors on the DynamoDB document client', () => {
  it.each([
    [400, 'ProvisionedThroughputExceededException'],
    [400, 'ThrottlingException'],
    [400, 'RequestLimitExceeded'],
    [500, 'InternalServerError'],
    [503, 'ServiceUnavailable'],
  ])('a %i %s, once the SDK’s retries are spent, is a TransientAwsError naming it', async (status, type) => {
    const handler = answering(status, type);
    const error = await documentClient(handler).send(new GetCommand({ TableName: 't', Key: { pk: 'TASK#1' } })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientAwsError);
    expect((error as Error).name).toBe('TransientAwsError');
    expect((error as Error).message).toContain(type);
    expect((error as Error).message).not.toContain('said so');
    expect(handler.requests).toBe(2); // the SDK retried first
  });

  it('a failed condition passes through untouched, not retried', async () => {
    const handler = answering(400, 'ConditionalCheckFailedException');
    const error = await documentClient(handler)
      .send(new PutCommand({ TableName: 't', Item: { pk: 'TASK#1' }, ConditionExpression: 'attribute_not_exists(pk)' }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConditionalCheckFailedException);
    expect(handler.requests).toBe(1);
  });
});

describe('surfaceTransientErrors on the Secrets Manager client', () => {
  const client = (handler: object) => surfaceTransientErrors(new SecretsManagerClient(config(handler)), 'Secrets Manager');

  it.each([
    [500, 'InternalServiceError'],
    [400, 'ThrottlingException'],
  ])('a %i %s is a TransientAwsError', async (status, type) => {
    const error = await client(answering(status, type)).send(new GetSecretValueCommand({ SecretId: 's' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientAwsError);
    expect((error as Error).message).toMatch(new RegExp(`^Secrets Manager answered ${type}`));
  });

  it('a missing secret is not transient: it passes through', async () => {
    const error = await client(answering(400, 'ResourceNotFoundException')).send(new GetSecretValueCommand({ SecretId: 's' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResourceNotFoundException);
  });
});

describe('transientAwsError', () => {
  it.each([
    [{ name: 'SomethingNew', $retryable: { throttling: true } }],
    [{ name: 'SomethingElse', $metadata: { httpStatusCode: 502 } }],
    [Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
  ])('maps %j', (error) => {
    expect(transientAwsError(error, 'DynamoDB')).toBeInstanceOf(TransientAwsError);
  });

  it.each([
    [{ name: 'ConditionalCheckFailedException', $metadata: { httpStatusCode: 400 } }],
    [{ name: 'ValidationException', $metadata: { httpStatusCode: 400 } }],
    [new TypeError('a bug')],
    [undefined],
  ])('leaves %j alone', (error) => {
    expect(transientAwsError(error, 'DynamoDB')).toBeUndefined();
  });
});
