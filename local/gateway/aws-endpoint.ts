import { createServer, type Server } from 'node:http';
import { jsonServiceGuard } from '../endpoint-guard.ts';
import { LOCAL_REGION, type LocalCredentials } from '../local-aws.ts';
import { secretsHttpHandler } from '../secrets-manager-endpoint.ts';
import { stepFunctionsHttpHandler, type LocalStepFunctions } from '../step-functions.ts';
import { eventBridgeHttpHandler, type LocalEventBus } from '../event-bridge/event-bus.ts';

/**
 * One endpoint for the JSON-protocol services the functions call, Step Functions (each state machine of
 * the template), Secrets Manager and EventBridge, answering only requests signed with the data dir's key:
 * it hands out the upstream key.
 */
export function createAwsEndpoint(
  machines: readonly LocalStepFunctions[],
  secretValues: Map<string, string>,
  eventBus: LocalEventBus,
  credentials: LocalCredentials,
): Server {
  const stepFunctions = stepFunctionsHttpHandler(machines);
  const secrets = secretsHttpHandler(secretValues);
  const events = eventBridgeHttpHandler(eventBus);
  const policy = { credentials, region: LOCAL_REGION, services: ['states', 'secretsmanager', 'events'], uriEscapePath: true };
  return createServer(
    jsonServiceGuard(policy, (req, res, body) => {
      const target = String(req.headers['x-amz-target'] ?? '');
      if (target.startsWith('secretsmanager.')) secrets(req, res, body);
      else if (target.startsWith('AWSEvents.')) events(req, res, body);
      else void stepFunctions(req, res, body);
    }),
  );
}
