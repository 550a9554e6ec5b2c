/**
 * `npm start`: the gateway on this machine, no AWS or Luma account needed. See the README for settings
 * (local/settings.ts reads them).
 */
import { join } from 'node:path';
import { startLocalGateway } from './gateway.ts';
import { maskApiKey } from '../functions/commons/domain/api-key.ts';
import { simulatedLumaFaultsFromEnv } from './simulated-luma.ts';
import { localGatewayOptionsFromEnv } from './settings.ts';

async function main(): Promise<void> {
  const started = Date.now();
  const options = localGatewayOptionsFromEnv(process.env);
  const gateway = await startLocalGateway({ ...options, simulator: simulatedLumaFaultsFromEnv(process.env) });

  console.log(`Upstream: ${gateway.simulatedLuma ? `simulated Luma API at ${gateway.simulatedLuma.baseUrl}` : options.upstream?.baseUrl}`);
  console.log(`Videos: s3://${gateway.bucket} (S3 emulator at ${gateway.s3Endpoint})`);
  if (gateway.simulatedLuma) console.log(`Simulator seed: ${gateway.simulatedLuma.seed}`);
  // A key the gateway generated is printed so it can be used; one the operator chose is theirs already.
  for (const key of gateway.apiKeys) console.log(`API key: ${options.apiKeys.length > 0 ? maskApiKey(key) : key}`);
  // Shown once, by the start that made it; later starts say where it is kept.
  if (gateway.webhookSecretGenerated) console.log(`Webhook secret (Standard Webhooks, shown once): ${gateway.webhookSecret}`);
  else if (!options.webhookSecret) console.log(`Webhook secret: kept in ${join(options.dataDir, 'webhook-secret')}`);
  console.log(`Events: ${gateway.eventsFile}`);
  console.log(`Ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`Listening on ${gateway.url}`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping`);
    gateway.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: Error) => {
  console.error(`Could not start: ${error.message}`);
  process.exit(1);
});
