/** The simulated Luma API as the gateway runs it: in the data dir, on the gateway's time scale. */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalGatewayOptions } from '../gateway.ts';
import { writePrivateFile } from '../private-files.ts';
import { startSimulatedLuma, type SimulatedLuma } from '../simulated-luma.ts';

/**
 * The simulated upstream keeps its address and key across restarts of the same data dir, as a real one
 * would: asset links recorded before a crash still lead to it afterwards.
 */
export async function startSimulator(dataDir: string, options: Pick<LocalGatewayOptions, 'simulator' | 'timeScale'>): Promise<SimulatedLuma & { apiKey: string }> {
  const identityFile = join(dataDir, 'simulated-luma-identity.json');
  const saved = existsSync(identityFile)
    ? (JSON.parse(readFileSync(identityFile, 'utf8')) as { port: number; apiKey: string })
    : { port: 0, apiKey: randomBytes(24).toString('hex') };
  const start = (port: number) =>
    startSimulatedLuma({
      ...options.simulator,
      apiKey: saved.apiKey,
      port,
      timeScale: options.timeScale,
      stateFile: join(dataDir, 'simulated-luma.json'),
    });
  // The old port may have been taken meanwhile: then links from before the restart are lost, not the run.
  const simulator = await start(saved.port).catch(() => start(0));
  writePrivateFile(identityFile, JSON.stringify({ port: Number(new URL(simulator.baseUrl).port), apiKey: saved.apiKey }));
  return Object.assign(simulator, { apiKey: saved.apiKey });
}
