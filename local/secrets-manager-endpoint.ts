/**
 * A Secrets Manager stand-in for the one call the functions make, GetSecretValue, over the same
 * JSON protocol as AWS, so the functions read the upstream key exactly as they do in the cloud.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './loopback-http.ts';

export function secretsHttpHandler(secrets: Map<string, string>) {
  return (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    const target = String(req.headers['x-amz-target'] ?? '');
    const reply = (status: number, payload: object) => sendJson(res, status, payload, {}, 'application/x-amz-json-1.1');
    if (target !== 'secretsmanager.GetSecretValue') {
      return reply(400, { __type: 'UnknownOperationException', message: `${target} is not available locally.` });
    }
    let secretId: unknown;
    try {
      secretId = (JSON.parse(body.toString('utf8')) as { SecretId?: unknown }).SecretId;
    } catch {
      return reply(400, { __type: 'InvalidRequestException', message: 'Body is not JSON.' });
    }
    const value = typeof secretId === 'string' ? secrets.get(secretId) : undefined;
    if (value === undefined) {
      return reply(400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." });
    }
    reply(200, { ARN: secretId, Name: secretId, SecretString: value, VersionId: 'local', CreatedDate: 0 });
  };
}
