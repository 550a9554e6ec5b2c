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
