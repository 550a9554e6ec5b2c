import { createServer, type Server } from 'node:http';
import { jsonServiceGuard } from '../endpoint-guard.ts';
import { LOCAL_REGION, type LocalCredentials } from '../local-aws.ts';
import { secretsHttpHandler } from '../secrets-manager-endpoint.ts';
import { stepFunctionsHttpHandler, type LocalStepFunctions } from '../step-functions.ts';

/**
 * One endpoint for the JSON-protocol services the functions call, Step Functions and Secrets Manager,
 * answering only requests signed with the data dir's key: it hands out the upstream key.
 */
export function createAwsEndpoint(sfn: LocalStepFunctions, secretValues: Map<string, string>, credentials: LocalCredentials): Server {
  const stepFunctions = stepFunctionsHttpHandler(sfn);
  const secrets = secretsHttpHandler(secretValues);
  const policy = { credentials, region: LOCAL_REGION, services: ['states', 'secretsmanager'], uriEscapePath: true };
  return createServer(
    jsonServiceGuard(policy, (req, res, body) => {
      const target = String(req.headers['x-amz-target'] ?? '');
      if (target.startsWith('secretsmanager.')) secrets(req, res, body);
      else void stepFunctions(req, res, body);
    }),
  );
}
