/**
 * Task tokens, as Step Functions hands them to a callback task (`$$.Task.Token`) and takes them back in
 * SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat, with the errors AWS answers:
 *
 * - a token this runtime never issued (or issued before a restart: tokens live in memory) → InvalidToken;
 * - a token whose task has ended (reported, timed out, or its execution ended) → TaskTimedOut, AWS's "the
 *   task token has either expired or the task associated with the token has already been closed";
 * - a token over 1,024 characters, an output over 256 KiB, an error over 256 or a cause over 32,768
 *   characters → ValidationException, as AWS's length constraints (the API reference gives the token 1,024
 *   in one place and 2,048 in another: the smaller is taken); output that is not JSON → InvalidOutput.
 *
 * A token stays valid as long as its task waits, however long: there is no expiry of its own.
 */
import { randomBytes } from 'node:crypto';
import { STATES_PAYLOAD_BYTES } from '../aws-limits.ts';
import { StepFunctionsError } from './records.ts';

const MAX_TOKEN_LENGTH = 1024;
const MAX_ERROR_LENGTH = 256;
const MAX_CAUSE_LENGTH = 32_768;
/**
 * Closed tokens remembered (the newest), so that a long `npm start` does not keep every token it ever
 * issued: a report of an older one is answered InvalidToken, an error all the same.
 */
export const MAX_CLOSED_TOKENS = 100_000;

/** What the task waiting on a token does with each report. */
export interface TokenReceiver {
  succeed(output: unknown): void;
  fail(error: string, cause: string): void;
  heartbeat(): void;
}

export class TaskTokens {
  readonly #open = new Map<string, TokenReceiver>();
  /** Tokens issued and since closed (the newest MAX_CLOSED_TOKENS), so a late report is told TaskTimedOut rather than InvalidToken. */
  readonly #closed = new Set<string>();

  /** A new execution's `$$.Task` (see ExecutionTokens). */
  forExecution(): ExecutionTokens {
    return new ExecutionTokens();
  }

  /** The task now waits on `token`; returns the function that closes it when the task ends, for any reason. */
  open(token: string, receiver: TokenReceiver): () => void {
    if (this.#open.has(token) || this.#closed.has(token)) throw new Error('A task token was opened twice');
    this.#open.set(token, receiver);
    return () => {
      if (this.#open.delete(token)) this.#close(token);
    };
  }

  #close(token: string): void {
    this.#closed.add(token);
    // A Set iterates in insertion order: the first is the oldest.
    if (this.#closed.size > MAX_CLOSED_TOKENS) this.#closed.delete(this.#closed.values().next().value!);
  }

  /** A token whose task failed before it could wait: reports of it are too late, not unknown. */
  retire(token: string): void {
    if (!this.#open.has(token)) this.#close(token);
  }

  sendTaskSuccess(token: unknown, output: unknown): void {
    const receiver = this.receiver(token);
    if (typeof output !== 'string') throw new StepFunctionsError('ValidationException', 'Missing required field: output');
    const bytes = Buffer.byteLength(output, 'utf8');
    if (bytes > STATES_PAYLOAD_BYTES) {
      throw new StepFunctionsError(
        'ValidationException',
        `1 validation error detected: Value at 'output' failed to satisfy constraint: Member must have length less than or equal to ${STATES_PAYLOAD_BYTES} [the output has ${bytes} bytes]`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(output);
    } catch (error) {
      throw new StepFunctionsError('InvalidOutput', `Invalid Output: '${(error as Error).message}'`);
    }
    receiver.succeed(parsed);
  }

  sendTaskFailure(token: unknown, error: unknown, cause: unknown): void {
    const receiver = this.receiver(token);
    receiver.fail(boundedString('error', error, MAX_ERROR_LENGTH), boundedString('cause', cause, MAX_CAUSE_LENGTH));
  }

  sendTaskHeartbeat(token: unknown): void {
    this.receiver(token).heartbeat();
  }

  private receiver(token: unknown): TokenReceiver {
    if (typeof token !== 'string' || token.length < 1 || token.length > MAX_TOKEN_LENGTH) {
      throw new StepFunctionsError(
        'ValidationException',
        `1 validation error detected: Value at 'taskToken' failed to satisfy constraint: Member must have length between 1 and ${MAX_TOKEN_LENGTH}`,
      );
    }
    const receiver = this.#open.get(token);
    if (receiver) return receiver;
    if (this.#closed.has(token)) throw new StepFunctionsError('TaskTimedOut', 'Task Timed Out: the task token has expired or its task has already been closed');
    throw new StepFunctionsError('InvalidToken', 'Invalid Token: the task token is not valid');
  }
}

/**
 * One execution's `$$.Task`. The library builds a task's input from its Parameters synchronously and then
 * calls our handler in the same turn, with no way to tell which state is being entered; so the first read
 * of `$$.Task.Token` mints a token, every further read (the same Parameters may name it twice) returns
 * it, and the callback task's handler takes it, which makes the next read mint a new one. Only a callback
 * task's Parameters may read it (local/step-functions/definition.ts), so no other state can take one.
 */
export class ExecutionTokens {
  #pending: string | undefined;

  /** The context object's `Task` field. */
  readonly context = Object.defineProperty({}, 'Token', {
    enumerable: true,
    get: () => (this.#pending ??= newToken()),
  }) as { readonly Token: string };

  /** The token the task being started was given; a new one if its Parameters did not read it. */
  take(): string {
    const token = this.#pending ?? newToken();
    this.#pending = undefined;
    return token;
  }
}

/** Opaque, unguessable and of AWS's alphabet (AWS's are a few hundred Base64 characters). */
function newToken(): string {
  return `AQ${randomBytes(96).toString('base64')}`;
}

function boundedString(field: string, value: unknown, max: number): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new StepFunctionsError('ValidationException', `Field ${field} must be a string`);
  if (value.length > max) {
    throw new StepFunctionsError(
      'ValidationException',
      `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must have length less than or equal to ${max}`,
    );
  }
  return value;
}
