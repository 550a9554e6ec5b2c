/**
 * `npm run chaos [-- --scenario burst|chaos|restart|idempotency|fair|queue|all] [--tasks N] [--cap N] [--seed N]
 *   [--kill-after-ms N] [--time-scale X] [--keep]`
 *
 * Proves the local gateway loses nothing under load and faults. Each scenario starts its own gateway on a
 * fresh temp data dir (in-process through startLocalGateway, or `npm start` as a child process where a
 * hard kill is needed), drives it over 127.0.0.1 only, checks its invariants and prints one line of
 * figures. A violated invariant prints `FAIL: …`; the exit code is 0 only when every invariant held.
 * Every wait is bounded in count and time, and the script stops by itself.
 *
 *   burst        N concurrent submits against an upstream capacity of `--cap` (default 200 tasks, cap 5)
 *   chaos        N submits with a fault rate of 0.2 over every fault kind (default 100)
 *   restart      N submits to `npm start`, kill -9 while in flight, restart on the same data dir (default 20)
 *   idempotency  N pairs of simultaneous duplicate submits with one Idempotency-Key each (default 50)
 *   fair         a big tenant's N tasks at once, then a small tenant's few, one by one (default 200, cap 5):
 *                each tenant's wait for a slot
 *   queue        a queue of N/10 tasks, then of N, behind the slots (default 2,000, cap 10): what a waiting
 *                task costs at each length
 *
 * `--tasks N` sets the count of every selected scenario (pairs for idempotency); `--cap` is the burst's,
 * fair's and queue's upstream capacity; `--kill-after-ms` kills the restart's first `npm start` that long after its first
 * submit instead of at the first task seen past pending. A failed scenario keeps its temp dir (data dir,
 * gateway and function logs) and prints where; `--keep` keeps every scenario's. The scenario functions are
 * exported for test/e2e/chaos.test.ts, which runs them small.
 *
 * Each scenario is a file of scripts/chaos/ named after it; invariants.ts holds the checks they share,
 * harness.ts a run's lifetime, npm-start.ts `npm start` as a child process.
 */
import { randomInt } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SCENARIOS, type CommonOptions, type ScenarioName, type ScenarioReport } from './chaos/harness.ts';
import { killChildren } from './chaos/npm-start.ts';
import { burst } from './chaos/burst.ts';
import { chaos } from './chaos/chaos.ts';
import { restart } from './chaos/restart.ts';
import { idempotency } from './chaos/idempotency.ts';
import { fair } from './chaos/fair.ts';
import { queue } from './chaos/queue.ts';

export { SCENARIOS, burst, chaos, fair, idempotency, killChildren, queue, restart, type CommonOptions, type ScenarioName, type ScenarioReport };
export type { BurstReport } from './chaos/burst.ts';
export type { ChaosReport } from './chaos/chaos.ts';
export type { RestartReport } from './chaos/restart.ts';
export type { IdempotencyReport } from './chaos/idempotency.ts';
export type { FairReport } from './chaos/fair.ts';
export type { QueueReport, QueueWindow } from './chaos/queue.ts';

// ---------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------

const USAGE =
  'usage: npm run chaos -- [--scenario burst|chaos|restart|idempotency|fair|queue|all] [--tasks N] [--cap N] [--seed N] [--kill-after-ms N]\n  [--time-scale X] [--keep]';
/** The whole run stops by itself after this long, whatever happens. */
const WATCHDOG_MS = 45 * 60_000;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'all' },
      tasks: { type: 'string' },
      cap: { type: 'string' },
      'kill-after-ms': { type: 'string' },
      seed: { type: 'string' },
      'time-scale': { type: 'string', default: '0.01' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const selected = values.scenario === 'all' ? SCENARIOS : [values.scenario as ScenarioName];
  if (!selected.every((name) => SCENARIOS.includes(name))) throw new Error(`Unknown scenario "${values.scenario}".\n${USAGE}`);
  const integer = (name: string, raw: string | undefined, min: number) => {
    if (raw === undefined) return undefined;
    if (!/^-?\d+$/.test(raw) || Number(raw) < min) throw new Error(`--${name} must be an integer ≥ ${min}, not "${raw}".`);
    return Number(raw);
  };
  const tasks = integer('tasks', values.tasks, 1);
  const cap = integer('cap', values.cap, 1);
  const seed = integer('seed', values.seed, 0) ?? randomInt(2 ** 31);
  const timeScale = Number(values['time-scale']);
  if (!Number.isFinite(timeScale) || timeScale <= 0) throw new Error(`--time-scale must be a number > 0, not "${values['time-scale']}".`);
  const common: CommonOptions = { timeScale, keepOnFailure: true, keepAlways: values.keep };

  const watchdog = setTimeout(() => {
    console.log(`FAIL: the run did not finish within ${WATCHDOG_MS / 60_000} minutes; stopping`);
    killChildren();
    process.exit(1);
  }, WATCHDOG_MS);
  watchdog.unref();

  let failed = false;
  for (const name of selected) {
    const report: ScenarioReport =
      name === 'burst'
        ? await burst({ ...common, tasks, maxConcurrent: cap })
        : name === 'chaos'
          ? await chaos({ ...common, tasks, seed })
          : name === 'restart'
            ? await restart({ ...common, tasks, killAfterMs: integer('kill-after-ms', values['kill-after-ms'], 0) })
            : name === 'fair'
              ? await fair({ ...common, tasks, maxConcurrent: cap })
              : name === 'queue'
                ? await queue({ ...common, tasks, maxConcurrent: cap })
                : await idempotency({ ...common, pairs: tasks });
    console.log(report.line);
    for (const violation of report.violations) console.log(`FAIL: ${name}: ${violation}`);
    if (report.keptDir) console.log(`  (${name}: data dir and logs kept in ${report.keptDir})`);
    failed ||= report.violations.length > 0;
  }
  return failed ? 1 : 0;
}

const invokedDirectly = (() => {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();

if (invokedDirectly) {
  const interrupted = (signal: NodeJS.Signals) => {
    console.log(`${signal}: stopping`);
    killChildren();
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  main().then(
    (code) => process.exit(code),
    (error: Error) => {
      console.log(`FAIL: ${error.message}`);
      killChildren();
      process.exit(1);
    },
  );
}
