/**
 * `npm start` as a child process, in a process group of its own (so that a kill of the group takes npm, tsx
 * and node together), for the chaos scenarios that need a hard kill and for the end-to-end tests. Its output
 * goes to a log file, written as it comes, so that what it printed can be read at any moment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sleep, waitUntil } from './util.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface NpmStart {
  child: ChildProcess;
  url: string;
  apiKey: string;
  /** The lines of its output worth matching (the rest is in the log file). */
  lines: string[];
  /** Everything it printed so far (the log file). */
  output(): string;
  /** Resolves once the `npm` process itself has exited. */
  exited: Promise<void>;
  /** Resolves true once the process and every process of its group are gone, false after `ms`. */
  gone(ms: number): Promise<boolean>;
  /** Signals the group, waits (bounded), and SIGKILLs what is left. */
  stop(signal: NodeJS.Signals): Promise<void>;
}

export interface NpmStartOptions {
  /** How long it may take to print `Listening on`. @default 120 s */
  listenWithinMs?: number;
}

const children = new Set<ChildProcess>();

/** Starts `npm start` with `env` over this process's environment; resolves once it listens. */
export async function npmStart(env: Record<string, string>, logFile: string, options: NpmStartOptions = {}): Promise<NpmStart> {
  const listenWithinMs = options.listenWithinMs ?? 120_000;
  const log = openSync(logFile, 'w');
  const child = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: a kill of -pid takes npm, tsx and node together
  });
  children.add(child);
  const lines: string[] = [];
  let partial = '';
  const onData = (chunk: Buffer) => {
    writeSync(log, chunk);
    const text = partial + chunk.toString('utf8');
    const split = text.split('\n');
    partial = split.pop()!.slice(-10_000);
    for (const line of split) {
      if (/^(Listening on|API key:|resumed|reconciler|Could not start|SIGTERM|SIGINT)/.test(line)) lines.push(line);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  // 'close' comes once every process of the group holding its output is gone, after the last output.
  const closed = new Promise<void>((done) =>
    child.once('close', () => {
      children.delete(child);
      closeSync(log);
      done();
    }),
  );
  const gone = async (ms: number) => {
    const until = Date.now() + ms;
    await Promise.race([exited, sleep(ms)]);
    return (await waitUntil(async () => (groupAlive(child.pid!) ? undefined : true), Math.max(0, until - Date.now()))) === true;
  };
  const stop = async (signal: NodeJS.Signals) => {
    if (groupAlive(child.pid!)) signalGroup(child, signal);
    if (!(await gone(20_000))) {
      signalGroup(child, 'SIGKILL');
      await gone(10_000);
    }
  };
  const url = await waitUntil(
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        await Promise.race([closed, sleep(5_000)]); // its last words, in the log file
        throw new Error(`npm start exited early: ${lines.join(' | ')} (see ${logFile})`);
      }
      return lines.map((line) => /^Listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line)?.[1]).find(Boolean);
    },
    listenWithinMs,
  );
  if (!url) {
    await stop('SIGKILL');
    throw new Error(`npm start did not listen within ${listenWithinMs / 1000} s (see ${logFile})`);
  }
  // A key passed in is printed masked: only a generated one can be read from the output.
  const apiKey = env.LOCAL_API_KEY?.split(',')[0] || lines.map((line) => /^API key: (\S+)/.exec(line)?.[1]).find(Boolean)!;
  return { child, url, apiKey, lines, output: () => readFileSync(logFile, 'utf8'), exited, gone, stop };
}

/** True while any process of the group still runs (signal 0 only checks). */
export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

/** Kills every `npm start` group this module started and that still runs (on exit or interruption). */
export function killChildren(): void {
  for (const child of children) signalGroup(child, 'SIGKILL');
}
