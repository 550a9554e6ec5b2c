/**
 * A local Step Functions behind a loopback HTTP endpoint, with an SDK client for it: the tests that call it
 * as the functions do (SendTaskSuccess, StartExecution …) over real HTTP. One try per call: a test sees
 * the answer the endpoint gave, never a retry's.
 */
import { createServer } from 'node:http';
import { SFNClient } from '@aws-sdk/client-sfn';
import { stepFunctionsHttpHandler, type LocalStepFunctions } from '../../local/step-functions.ts';
import { closeServer, listenOnLoopback } from '../../local/loopback-http.ts';

export interface ServedStepFunctions {
  client: SFNClient;
  close(): Promise<void>;
}

export async function serveStepFunctions(local: LocalStepFunctions, region: string): Promise<ServedStepFunctions> {
  const handler = stepFunctionsHttpHandler(local);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handler(req, res, Buffer.concat(chunks)));
  });
  const endpoint = await listenOnLoopback(server);
  const client = new SFNClient({ endpoint, region, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
  return {
    client,
    close: () => {
      client.destroy();
      server.closeAllConnections();
      return closeServer(server);
    },
  };
}
