/**
 * What the client and playground tests share: a quiet local gateway in a fresh data dir, on test time with a
 * roomy deadline, and the luma-video CLI run in this process.
 */
import { expect } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalGateway, type LocalGateway } from '../../local/gateway.ts';
import { main, type CliIo } from '../../client/src/cli.ts';
import type { OpenApiCheck } from './openapi-check.ts';
import { ROOMY_DEADLINE_SECONDS, TEST_TIME_SCALE } from './time.ts';

/** Starts the gateway with `apiKeys`, its data in a fresh folder named from `prefix` (removed again if the start fails). */
export async function startClientGateway(prefix: string, apiKeys: string[]): Promise<{ gateway: LocalGateway; dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  try {
    const gateway = await startLocalGateway({
      dataDir,
      port: 0,
      apiKeys,
      timeScale: TEST_TIME_SCALE,
      generationTimeoutSeconds: ROOMY_DEADLINE_SECONDS,
      log: () => undefined,
      functionLogs: () => undefined,
    });
    return { gateway, dataDir };
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/** For `afterAll`: closes the gateway and removes its data dir, if they were made. */
export async function stopClientGateway(gateway: LocalGateway | undefined, dataDir: string | undefined): Promise<void> {
  await gateway?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}

export interface CliRun {
  readonly gateway: LocalGateway;
  readonly key: string;
  /** Every answer the CLI receives goes through it. */
  readonly check: OpenApiCheck;
  readonly tty?: boolean;
  readonly env?: Record<string, string>;
}

/** The CLI in this process, its output collected; `lines` are its JSON lines (none on a terminal). */
export async function runCli(args: string[], { gateway, key, check, tty = false, env }: CliRun) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (text: string) => (stdout += text), isTTY: tty },
    stderr: { write: (text: string) => (stderr += text), isTTY: tty },
    env: { LUMA_GATEWAY_URL: gateway.url, LUMA_GATEWAY_KEY: key, ...env },
    fetch: check.fetchFor(gateway.url),
  };
  const code = await main(args, io);
  const lines = tty ? [] : stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, any>);
  return { code, stdout, stderr, lines };
}

/** Each of `expected` (`METHOD /path/template → status`) was among the answers `check` checked. */
export function expectAnswersChecked(check: OpenApiCheck, expected: string[]): void {
  const seen = new Set(check.checked);
  for (const answer of expected) expect(seen, answer).toContain(answer);
}
