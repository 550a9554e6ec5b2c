import type { LambdaHost } from '../lambda-host.ts';

/**
 * Stands in for the EventBridge rule: runs the reconciler at start (after a crash, that is when it is
 * needed most) and then on its schedule, one run at a time.
 */
export function scheduleReconciler(host: Pick<LambdaHost, 'invoke'>, intervalMs: number, log: (line: string) => void): () => Promise<void> {
  let running: Promise<void> = Promise.resolve();
  const run = () => {
    running = running
      .then(() => host.invoke({ source: 'local.schedule' }))
      .then((report) => {
        const { checked: _checked, ...repairs } = report as Record<string, number>;
        if (Object.values(repairs).some(Boolean)) log(`reconciler: ${JSON.stringify(report)}`);
      })
      .catch((error: Error) => log(`reconciler failed: ${error.name}: ${error.message}`));
  };
  run();
  const timer = setInterval(run, Math.max(intervalMs, 100));
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
