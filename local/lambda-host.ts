/**
 * Runs a synthesized Lambda bundle locally: one worker thread per function, with the function's own
 * environment (so functions do not see each other's settings) and its configured timeout. Errors come
 * back the way Lambda reports them: `errorType` is the thrown error's name, which the state machine's
 * Retry and Catch match on.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

export interface LambdaDefinition {
  name: string;
  arn: string;
  bundlePath: string;
  handlerName: string;
  environment: Record<string, string>;
  timeoutMs: number;
  /** Where the function's stdout and stderr go (CloudWatch Logs in AWS). @default this process's stdout */
  logs?: (chunk: string) => void;
}

/** The error a failed invocation rejects with; `name` is Lambda's errorType. */
export class LambdaInvocationError extends Error {
  constructor(errorType: string, message: string) {
    super(message);
    this.name = errorType;
  }
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

const WORKER_SCRIPT = fileURLToPath(new URL('./lambda-worker.mjs', import.meta.url));

export class LambdaHost {
  readonly #definition: LambdaDefinition;
  readonly #pending = new Map<number, Pending>();
  #worker: Worker;
  #nextId = 1;
  #closed = false;

  constructor(definition: LambdaDefinition) {
    this.#definition = definition;
    this.#worker = this.#spawn();
  }

  get arn(): string {
    return this.#definition.arn;
  }

  invoke(payload: unknown): Promise<unknown> {
    if (this.#closed) return Promise.reject(new LambdaInvocationError('Lambda.ServiceException', 'The local runtime is shutting down.'));
    const id = this.#nextId++;
    const { timeoutMs, name } = this.#definition;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new LambdaInvocationError('Sandbox.Timedout', `${name} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#worker.postMessage({ id, payload, deadline: Date.now() + timeoutMs });
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new LambdaInvocationError('Lambda.ServiceException', 'The local runtime is shutting down.'));
      this.#pending.delete(id);
    }
    await this.#worker.terminate();
  }

  #spawn(): Worker {
    const { bundlePath, handlerName, name, arn, environment } = this.#definition;
    const worker = new Worker(WORKER_SCRIPT, {
      workerData: { bundlePath, handlerName, functionName: name, functionArn: arn },
      env: environment,
      stdout: true,
      stderr: true,
    });
    const logs = this.#definition.logs ?? ((chunk: string) => process.stdout.write(chunk));
    worker.stdout.setEncoding('utf8').on('data', logs);
    worker.stderr.setEncoding('utf8').on('data', logs);
    worker.on('message', (message: { id: number; ok: boolean; result?: unknown; errorType?: string; errorMessage?: string }) => {
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      clearTimeout(pending.timer);
      if (message.ok) pending.resolve(message.result);
      else pending.reject(new LambdaInvocationError(message.errorType ?? 'Error', message.errorMessage ?? ''));
    });
    // A crashed container fails its in-flight invocations and is replaced, as Lambda would.
    worker.on('error', (error) => this.#failAll(new LambdaInvocationError('Runtime.ExitError', error.message)));
    worker.on('exit', () => {
      if (this.#closed) return;
      this.#failAll(new LambdaInvocationError('Runtime.ExitError', `${name} exited`));
      this.#worker = this.#spawn();
    });
    worker.unref();
    return worker;
  }

  #failAll(error: Error): void {
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(error);
      this.#pending.delete(id);
    }
  }
}
