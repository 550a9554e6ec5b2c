/** Small helpers the integration and end-to-end tests share: an aggregator-API client and bounded polling. */
import { type PublicGeneration } from '../../functions/commons/domain/public-generation.ts';
import { publicGenerationSchema } from '../../functions/commons/domain/public-generation-schema.ts';
import { GatewayClient } from '../../scripts/gateway-client.ts';

export type { ApiAnswer } from '../../scripts/gateway-client.ts';

/** The gateway's client (scripts/gateway-client.ts), and a wait for a task's end that checks every answer. */
export class ApiTestClient extends GatewayClient {
  /**
   * Polls until the task is completed or failed; every answer must match the published schema. Five times a
   * second: a client polling ten times a second would soon meet the edge's requests-a-minute limit per key.
   * The budget only names the task that never ended, before the test's own timeout (180 s) would: it is not
   * a speed requirement, and a loaded machine may take a minute for a task that takes a second on an idle one.
   */
  async waitForTerminal(id: string, timeoutMs = 120_000): Promise<PublicGeneration & { seen: string[] }> {
    const seen: string[] = [];
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const { status, body } = await this.get(id);
      if (status !== 200) throw new Error(`GET ${id} answered ${status}: ${JSON.stringify(body)}`);
      const generation = publicGenerationSchema.parse(body);
      if (seen.at(-1) !== generation.state) seen.push(generation.state);
      if (generation.state === 'completed' || generation.state === 'failed') return Object.assign(generation, { seen });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`Task ${id} did not finish within ${timeoutMs} ms (states seen: ${seen.join(' → ')})`);
  }
}

export async function waitUntil<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Timed out waiting for ${what}`);
}
