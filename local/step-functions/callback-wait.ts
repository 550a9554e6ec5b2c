/**
 * How long a callback task (`.waitForTaskToken`) waits: until SendTaskSuccess or SendTaskFailure for its
 * token, its TimeoutSeconds (States.Timeout) or a HeartbeatSeconds without SendTaskHeartbeat
 * (States.HeartbeatTimeout), or the end of its execution. Both clocks start with the task, as in AWS.
 *
 * On the local time scale: while the task's Lambda invocation runs, its time counts as gateway time one
 * for one (the code runs at real speed, like a function's own timeout); from the moment it returns, the
 * rest of the wait is scaled. So a poll that takes 300 ms of real time uses 0.3 s of a task's 60 s, as in
 * AWS, and a 60 s timeout at a scale of 0.01 is not over before the function has even stored its token.
 */
import { StatesTimeoutError } from '../aws-local-stepfunctions.ts';
import { MAX_TIMER_MS, type TimeScale } from '../time-scale.ts';
import type { TokenReceiver } from './task-tokens.ts';

export interface CallbackTimeouts {
  /** Whole seconds of gateway time, at least 1; none: the task waits as long as its execution runs. */
  timeoutSeconds?: number;
  heartbeatSeconds?: number;
}

export class CallbackWait implements TokenReceiver {
  readonly result: Promise<unknown>;
  #resolve!: (output: unknown) => void;
  #reject!: (error: Error) => void;
  #settled = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #startedAt = Date.now();
  /** Real time at which the invocation returned; until then gateway time runs at real speed. */
  #invocationEndedAt: number | undefined;
  #lastHeartbeat = 0;
  #removeAbortListener = () => {};

  constructor(
    private readonly scale: TimeScale,
    private readonly timeouts: CallbackTimeouts,
    signal: AbortSignal,
    onAbort: () => Error,
  ) {
    this.result = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Whoever runs the task awaits the result, unless it failed before that (then cancel() ends the wait).
    this.result.catch(() => {});
    if (signal.aborted) {
      this.settle(onAbort());
      return;
    }
    // Removed when the task ends: an execution's signal outlives hundreds of its tasks.
    const abort = () => this.settle(onAbort());
    signal.addEventListener('abort', abort, { once: true });
    this.#removeAbortListener = () => signal.removeEventListener('abort', abort);
    this.schedule();
  }

  /** The task's Lambda invocation has returned: from now on its wait runs on the time scale. */
  invocationEnded(): void {
    if (this.#invocationEndedAt !== undefined) return;
    this.#invocationEndedAt = Date.now();
    this.schedule();
  }

  succeed(output: unknown): void {
    this.settle(undefined, output);
  }

  fail(error: string, cause: string): void {
    this.settle(Object.assign(new Error(cause), { name: error }));
  }

  /** Fails the task with the error its Lambda invocation failed with. */
  failWith(error: Error): void {
    this.settle(error);
  }

  /** Ends the wait, if it has not ended, when its task has failed otherwise: no timer outlives its task. */
  cancel(): void {
    this.settle(new Error('The task ended'));
  }

  heartbeat(): void {
    if (this.#settled) return;
    this.#lastHeartbeat = this.gatewayMs();
    this.schedule();
  }

  /** Gateway milliseconds since the task started. */
  private gatewayMs(now = Date.now()): number {
    const ended = this.#invocationEndedAt;
    if (ended === undefined) return now - this.#startedAt;
    const scaled = this.scale.factor === 0 ? Infinity : (now - ended) / this.scale.factor;
    return ended - this.#startedAt + scaled;
  }

  private deadlines(): { timeout: number; heartbeat: number } {
    const { timeoutSeconds, heartbeatSeconds } = this.timeouts;
    return {
      timeout: timeoutSeconds === undefined ? Infinity : timeoutSeconds * 1000,
      heartbeat: heartbeatSeconds === undefined ? Infinity : this.#lastHeartbeat + heartbeatSeconds * 1000,
    };
  }

  private schedule(): void {
    clearTimeout(this.#timer);
    if (this.#settled) return;
    const { timeout, heartbeat } = this.deadlines();
    const now = this.gatewayMs();
    // The timeout wins a tie: it is the task's limit whatever its heartbeats.
    if (now >= timeout) return this.settle(timeoutError('States.Timeout', `The task did not report within TimeoutSeconds (${this.timeouts.timeoutSeconds})`));
    if (now >= heartbeat) {
      return this.settle(timeoutError('States.HeartbeatTimeout', `The task sent no heartbeat within HeartbeatSeconds (${this.timeouts.heartbeatSeconds})`));
    }
    const next = Math.min(timeout, heartbeat);
    if (next === Infinity) return;
    const gatewayDelay = next - now;
    const realDelay = this.#invocationEndedAt === undefined ? gatewayDelay : this.scale.ms(gatewayDelay);
    // Timers may fire a little early, and long ones are chunked: each firing looks at the clock again.
    this.#timer = setTimeout(() => this.schedule(), Math.min(Math.max(1, Math.ceil(realDelay)), MAX_TIMER_MS));
  }

  private settle(error: Error | undefined, output?: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    clearTimeout(this.#timer);
    this.#removeAbortListener();
    if (error) this.#reject(error);
    else this.#resolve(output);
  }
}

/** An instance of the library's States.Timeout class, so that `States.TaskFailed` does not match it, as in AWS. */
function timeoutError(name: 'States.Timeout' | 'States.HeartbeatTimeout', cause: string): Error {
  return Object.assign(new StatesTimeoutError(), { name, message: cause });
}
