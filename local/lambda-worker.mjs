// One Lambda execution environment: a worker thread with its own process.env (the function's environment
// from the template), which imports the function's bundle once, says when it is ready, and serves one
// invocation at a time for the host. Events and results cross as JSON text, as they do to and from Lambda, so the host measures
// them as Lambda does. Plain JavaScript, so it loads without a TypeScript loader, like the bundle itself.
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

// The init phase: the bundle's module code runs before the first invocation, as in Lambda, whose invoke
// timeout starts after it. A failed import is reported by each invocation, as Lambda reports it.
loadHandler().then(
  () => parentPort.postMessage({ ready: true }),
  () => parentPort.postMessage({ ready: true }),
);

parentPort.on('message', async ({ id, event, deadline }) => {
  const context = {
    functionName,
    awsRequestId: `local-${id}`,
    invokedFunctionArn: workerData.functionArn,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    callbackWaitsForEmptyEventLoop: false,
  };
  try {
    const handler = await loadHandler();
    const result = await handler(JSON.parse(event), context);
    parentPort.postMessage({ id, ok: true, result: JSON.stringify(result) ?? 'null' });
  } catch (error) {
    parentPort.postMessage({
      id,
      ok: false,
      errorType: error?.name ?? 'Error',
      errorMessage: error?.message ?? String(error),
    });
  }
});
