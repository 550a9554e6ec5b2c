// One Lambda "container": a worker thread with its own process.env (the function's environment from the
// template), which imports the function's bundle once and serves invocations posted by the host.
// Plain JavaScript, so it loads without a TypeScript loader, like the bundle itself.
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

const { bundlePath, handlerName, functionName } = workerData;
let handlerPromise;

function loadHandler() {
  handlerPromise ??= import(pathToFileURL(bundlePath).href).then((module) => {
    const handler = module[handlerName];
    if (typeof handler !== 'function') throw new Error(`${bundlePath} exports no function "${handlerName}"`);
    return handler;
  });
  return handlerPromise;
}

parentPort.on('message', async ({ id, payload, deadline }) => {
  const context = {
    functionName,
    awsRequestId: `local-${id}`,
    invokedFunctionArn: workerData.functionArn,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    callbackWaitsForEmptyEventLoop: false,
  };
  try {
    const handler = await loadHandler();
    const result = await handler(payload, context);
    parentPort.postMessage({ id, ok: true, result: result === undefined ? null : JSON.parse(JSON.stringify(result)) });
  } catch (error) {
    parentPort.postMessage({
      id,
      ok: false,
      errorType: error?.name ?? 'Error',
      errorMessage: error?.message ?? String(error),
    });
  }
});
