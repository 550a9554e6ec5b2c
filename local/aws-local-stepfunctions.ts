/**
 * aws-local-stepfunctions, loaded for Node 20: version 3 is built for Node 22 and calls
 * Promise.withResolvers, so the polyfill goes in before any of the library's code runs.
 */
function installPromiseWithResolvers(): void {
  const promise = Promise as PromiseConstructor & { withResolvers?: () => unknown };
  promise.withResolvers ??= function withResolvers<T>() {
    let resolve!: (value: T | PromiseLike<T>) => void;
    let reject!: (reason?: unknown) => void;
    const created = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise: created, resolve, reject };
  };
}

installPromiseWithResolvers();
export const { StateMachine, ExecutionError, ExecutionTimeoutError } = await import('aws-local-stepfunctions');

/**
 * The library's own States.Timeout error class, which it does not export. Its Retry and Catch matching
 * needs it: `States.TaskFailed` matches every error of a Task except an instance of this class, as AWS's
 * matches every error but a timeout. A callback task's timeouts, which the local runtime raises itself
 * (local/step-functions/callback-wait.ts), must be instances of it, so one tiny run that times out hands
 * the class over.
 */
export const StatesTimeoutError: new () => Error = await (async () => {
  const probe = new StateMachine(
    {
      StartAt: 'Probe',
      States: { Probe: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:000000000000:function:probe', TimeoutSeconds: 0.001, End: true } },
    } as never,
    { validationOptions: { noValidate: true } },
  );
  const run = probe.run({}, { overrides: { taskResourceLocalHandlers: { Probe: () => new Promise<never>(() => {}) } } });
  const failure = await run.result.then(
    () => undefined,
    (error: unknown) => (error instanceof ExecutionError ? error.cause : undefined),
  );
  if (!(failure instanceof Error) || failure.name !== 'States.Timeout') {
    throw new Error('aws-local-stepfunctions did not time out its probe with States.Timeout: has the library changed?');
  }
  return failure.constructor as new () => Error;
})();
