/**
 * Runs a synthesized Lambda bundle locally the way Lambda runs it: each invocation in an execution
 * environment of its own (a worker thread with the function's environment, so functions do not see each
 * other's settings), one invocation at a time per environment, reused while warm. Lambda's limits hold
 * (local/aws-limits.ts):
 *
 * - the event and the result are JSON, each at most 6 MB: a larger event is refused before any code runs
 *   (Lambda.AWSLambdaException, Invoke status 413), a larger result fails the invocation
 *   (Function.ResponseSizeTooLarge);
 * - the function's configured timeout, in real time: the environment is shut down and the invocation
 *   fails with Sandbox.Timedout; the next invocation gets a fresh environment (a cold start). The timeout
 *   is not scaled by LOCAL_TIME_SCALE: it bounds real code running at real speed, as in AWS, and a scaled
 *   one would fail honest work on a busy machine. It starts once the bundle is imported, like Lambda's
 *   invoke phase after its init phase; Lambda's 10 s cap on the init phase is not copied: locally, how
 *   long an import takes says more about the machine's load than about the code, and counting it would
 *   turn one slow import into a timeout, a new environment and another slow import.
 *
 * Errors come back the way Step Functions sees them: `errorType` (the thrown error's name, which Retry and
 * Catch match on) as the error's name.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { LAMBDA_SYNC_PAYLOAD_BYTES, awsLimitErrors, type AwsLimitError } from './aws-limits.ts';

export interface LambdaDefinition {
  name: string;
  arn: string;
  bundlePath: string;
  handlerName: string;
  environment: Record<string, string>;
  /** The function's configured timeout (the template's Timeout), real milliseconds. */
  timeoutMs: number;
  /**
   * Execution environments that may run at once; further invocations wait for one to be free. Lambda would
   * start more, up to the account's concurrency quota, each with CPU of its own: here they share the
   * machine's cores, and a busy function must not starve the others of them. @default 4
   */
  maxEnvironments?: number;
  /** Where the function's stdout and stderr go (CloudWatch Logs in AWS). @default this process's stdout */
  logs?: (chunk: string) => void;
}

/** The error a failed invocation rejects with; `name` is Lambda's errorType, as Step Functions reports it. */
export class LambdaInvocationError extends Error {
  /**
   * The Invoke API's HTTP status: 200 when the function ran and failed (a function error), 4xx or 5xx when
   * Lambda refused or failed the call itself (what API Gateway tells apart as an integration failure).
   */
  readonly statusCode: number;

  constructor(errorType: string, message: string, statusCode = 200) {
    super(message);
    this.name = errorType;
    this.statusCode = statusCode;
  }

  static of({ error, cause }: AwsLimitError, statusCode = 200): LambdaInvocationError {
    return new LambdaInvocationError(error, cause, statusCode);
  }
}

const WORKER_SCRIPT = fileURLToPath(new URL('./lambda-worker.mjs', import.meta.url));
const DEFAULT_MAX_ENVIRONMENTS = 4;

const shuttingDown = () => new LambdaInvocationError('Lambda.ServiceException', 'The local runtime is shutting down.', 500);

export class LambdaHost {
  readonly #definition: LambdaDefinition;
  readonly #maxEnvironments: number;
  readonly #environments = new Set<Environment>();
  readonly #idle: Environment[] = [];
  readonly #waiting: { resolve(environment: Environment): void; reject(error: Error): void }[] = [];
  #nextId = 1;
  #closed = false;

  constructor(definition: LambdaDefinition) {
    this.#definition = definition;
    this.#maxEnvironments = definition.maxEnvironments ?? DEFAULT_MAX_ENVIRONMENTS;
    if (!Number.isInteger(this.#maxEnvironments) || this.#maxEnvironments < 1) throw new Error('maxEnvironments must be an integer >= 1');
    // One environment starts with the host, as before the first request in AWS after a deploy.
    this.#idle.push(this.#spawn());
  }

  get arn(): string {
    return this.#definition.arn;
  }

  /** Environments alive now (busy or idle), for tests. */
  get environments(): number {
    return this.#environments.size;
  }

  async invoke(payload: unknown): Promise<unknown> {
    if (this.#closed) throw shuttingDown();
    // The event crosses as JSON, as it does to Lambda: the function gets its own parsed copy.
    const event = payload === undefined ? '{}' : JSON.stringify(payload);
    const bytes = Buffer.byteLength(event, 'utf8');
    if (bytes > LAMBDA_SYNC_PAYLOAD_BYTES) throw LambdaInvocationError.of(awsLimitErrors.lambdaRequestTooLarge(bytes), 413);
    const environment = await this.#acquire();
    try {
      return await environment.invoke(this.#nextId++, event, this.#definition.timeoutMs);
    } finally {
      this.#release(environment);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(shuttingDown());
    this.#idle.length = 0;
    await Promise.all([...this.#environments].map((environment) => environment.terminate(shuttingDown())));
  }

  #acquire(): Promise<Environment> {
    const idle = this.#idle.pop();
    if (idle) return Promise.resolve(idle);
    if (this.#environments.size < this.#maxEnvironments) return Promise.resolve(this.#spawn());
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  /** A live environment goes to the next waiter or back to the idle ones; an ended one is forgotten on exit. */
  #release(environment: Environment): void {
    if (this.#closed || !environment.alive) return;
    const waiter = this.#waiting.shift();
    if (waiter) waiter.resolve(environment);
    else this.#idle.push(environment);
  }

  #spawn(): Environment {
    const environment = new Environment(this.#definition, () => this.#forget(environment));
    this.#environments.add(environment);
    return environment;
  }

  /** An environment that ended (timed out, crashed, exited) is never used again. */
  #forget(environment: Environment): void {
    this.#environments.delete(environment);
    const index = this.#idle.indexOf(environment);
    if (index !== -1) this.#idle.splice(index, 1);
    // A waiter whose environment will never come back gets a fresh one.
    if (!this.#closed && this.#waiting.length > 0 && this.#environments.size < this.#maxEnvironments) {
      this.#waiting.shift()!.resolve(this.#spawn());
    }
  }
}

interface WorkerAnswer {
  /** The init phase is over (the bundle is imported, or failed to import). */
  ready?: true;
  id?: number;
  ok: boolean;
  /** The result as JSON text, measured as Lambda measures it. */
  result?: string;
  errorType?: string;
  errorMessage?: string;
}

interface Pending {
  id: number;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** One execution environment: a worker thread that runs one invocation at a time. */
class Environment {
  readonly #worker: Worker;
  readonly #name: string;
  readonly #ready: Promise<void>;
  #initialized!: () => void;
  #pending: Pending | undefined;
  #alive = true;

  constructor(definition: LambdaDefinition, onGone: () => void) {
    const { bundlePath, handlerName, name, arn, environment } = definition;
    this.#name = name;
    this.#ready = new Promise((ready) => (this.#initialized = ready));
    this.#worker = new Worker(WORKER_SCRIPT, {
      workerData: { bundlePath, handlerName, functionName: name, functionArn: arn },
      env: environment,
      stdout: true,
      stderr: true,
    });
    const logs = definition.logs ?? ((chunk: string) => process.stdout.write(chunk));
    this.#worker.stdout.setEncoding('utf8').on('data', logs);
    this.#worker.stderr.setEncoding('utf8').on('data', logs);
    this.#worker.on('message', (answer: WorkerAnswer) => this.#answer(answer));
    // A crashed environment fails its invocation and is replaced, as Lambda would.
    this.#worker.on('error', (error) => this.#fail(new LambdaInvocationError('Runtime.ExitError', error.message)));
    this.#worker.on('exit', () => {
      this.#fail(new LambdaInvocationError('Runtime.ExitError', `${this.#name} exited`));
      onGone();
    });
    this.#worker.unref();
  }

  get alive(): boolean {
    return this.#alive;
  }

  async invoke(id: number, event: string, timeoutMs: number): Promise<unknown> {
    await this.#ready;
    if (!this.#alive) throw new LambdaInvocationError('Runtime.ExitError', `${this.#name} exited`);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // Lambda shuts the sandbox down: whatever the function was doing ends with it.
        void this.terminate(LambdaInvocationError.of(awsLimitErrors.lambdaTimedOut(timeoutMs)));
      }, timeoutMs);
      this.#pending = { id, resolve, reject, timer };
      this.#worker.postMessage({ id, event, deadline: Date.now() + timeoutMs });
    });
  }

  /** Ends the environment; an invocation in it fails with `reason`. */
  async terminate(reason: Error): Promise<void> {
    this.#fail(reason);
    this.#alive = false;
    await this.#worker.terminate();
  }

  #answer(answer: WorkerAnswer): void {
    if (answer.ready) return this.#initialized();
    const pending = this.#pending;
    if (!pending || pending.id !== answer.id) return;
    this.#settle();
    if (!answer.ok) {
      pending.reject(new LambdaInvocationError(answer.errorType ?? 'Error', answer.errorMessage ?? ''));
      return;
    }
    const text = answer.result ?? 'null';
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > LAMBDA_SYNC_PAYLOAD_BYTES) pending.reject(LambdaInvocationError.of(awsLimitErrors.lambdaResponseTooLarge(bytes)));
    else pending.resolve(JSON.parse(text));
  }

  #fail(error: Error): void {
    this.#alive = false;
    this.#initialized();
    const pending = this.#pending;
    if (!pending) return;
    this.#settle();
    pending.reject(error);
  }

  #settle(): void {
    clearTimeout(this.#pending?.timer);
    this.#pending = undefined;
  }
}
