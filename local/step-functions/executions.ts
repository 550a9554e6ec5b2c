/**
 * The executions: started, described, stopped and listed as the Step Functions API does, each run by
 * aws-local-stepfunctions with our handlers for its Task (and rewritten Wait) states, held to the limits
 * its events show, persisted, and resumed from its first state after a restart.
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { StateMachine as LibStateMachine } from 'aws-local-stepfunctions';
import { StateMachine, ExecutionError, ExecutionTimeoutError } from '../aws-local-stepfunctions.ts';
import { STATES_PAYLOAD_BYTES, awsLimitErrors } from '../aws-limits.ts';
import type { AslDefinition } from '../asl.ts';
import { ExecutionLimits, type CountedKind, type LibEvent } from '../execution-limits.ts';
import { TimeScale } from '../time-scale.ts';
import { prepareDefinition, validateDefinition, type TaskKind } from './definition.ts';
import {
  EXECUTION_ARN,
  EXECUTION_NAME,
  STATE_MACHINE_ARN,
  StepFunctionsError,
  assertJson,
  assertStateMachineArn,
  describeRecord,
  executionContext,
  idempotentStart,
  listItem,
  withoutUndefined,
  type ExecutionDescription,
  type ExecutionListItem,
  type ExecutionRecord,
  type ExecutionStatus,
  type Outcome,
  type StartExecutionInput,
} from './records.ts';
import { StateFile } from './state-file.ts';
import { TaskRunner } from './task-runner.ts';
import { TaskTokens } from './task-tokens.ts';
import type { LibJson } from './tasks.ts';

export interface LocalStepFunctionsOptions {
  stateMachineArn: string;
  /** The ASL, its intrinsics already resolved; checked with the library's validator. */
  definition: object;
  /** Invoke a Lambda by the ARN/name found in a Task state; resolves with the handler's return value, rejects with an Error whose `name` is the Lambda errorType (e.g. 'TransientUpstreamError') and `message` the errorMessage. */
  invokeLambda(functionArn: string, payload: unknown): Promise<unknown>;
  /**
   * Multiplies every Wait, every Retry interval, the definition's TimeoutSeconds and a callback task's
   * TimeoutSeconds and HeartbeatSeconds once its function has returned (local/time-scale.ts);
   * e.g. 0.01. Default 1. A Wait's seconds must still be a whole number, as in AWS: the scale applies after
   * that check, so `1` at 0.01 waits 10 ms.
   */
  timeScale?: number;
  /** JSON file where executions are persisted (write temp + rename). On start, executions that were RUNNING are re-run from the beginning with their original input (the workflow is designed to be idempotent). */
  stateFile?: string;
  log?(line: string): void;
}

interface LiveExecution {
  /** Aborted whenever the execution ends for any reason; cancels our waits and timers. */
  controller: AbortController;
  abortRun(): void;
  done: Promise<void>;
}

export class LocalStepFunctions {
  readonly stateMachineArn: string;
  private readonly scale: TimeScale;
  private readonly tokens = new TaskTokens();
  private readonly runner: TaskRunner;
  private readonly machine: LibStateMachine;
  private readonly tasks: Map<string, TaskKind>;
  private readonly stateMachineName: string;
  private readonly executionArnPrefix: string;
  private readonly executions = new Map<string, ExecutionRecord>();
  private readonly live = new Map<string, LiveExecution>();
  /** State transitions per execution, as AWS bills them: every state entered, every retry (this run only). */
  private readonly transitionCounts = new Map<string, number>();
  private readonly stateFile: StateFile | undefined;
  private readonly logLine: (line: string) => void;
  private closing = false;
  #stateTransitions = 0;

  constructor(options: LocalStepFunctionsOptions) {
    this.stateMachineArn = options.stateMachineArn;
    this.scale = new TimeScale(options.timeScale ?? 1);
    this.runner = new TaskRunner({ invokeLambda: options.invokeLambda, scale: this.scale, tokens: this.tokens });
    this.logLine = safeLogger(options.log);
    const [, partition, region, account, name] = STATE_MACHINE_ARN.exec(options.stateMachineArn) ?? [];
    if (!name) throw new Error(`Not a state machine ARN: ${options.stateMachineArn}`);
    this.stateMachineName = name;
    this.executionArnPrefix = `arn:${partition}:states:${region}:${account}:execution:${name}:`;

    validateDefinition(options.definition, options.stateMachineArn);
    const prepared = prepareDefinition(options.definition as AslDefinition, this.scale);
    this.tasks = prepared.tasks;
    // The original was validated above; the rewritten copy has fractional durations and a
    // private Task resource that asl-validator would (rightly) reject.
    this.machine = new StateMachine(prepared.definition as never, { validationOptions: { noValidate: true } });

    if (options.stateFile) {
      this.stateFile = new StateFile(options.stateFile, () => this.snapshot(), this.logLine);
      for (const record of this.stateFile.load()) this.executions.set(record.executionArn, record);
    }
  }

  /**
   * State transitions so far, as Step Functions bills them for a standard workflow: each state entered
   * (a Wait, which runs here as a Task, once) and each retry.
   */
  get stateTransitions(): number {
    return this.#stateTransitions;
  }

  /** Re-runs persisted RUNNING executions from their first state; returns how many. */
  async resumeRunning(): Promise<number> {
    let resumed = 0;
    for (const record of this.executions.values()) {
      const ours = record.stateMachineArn === this.stateMachineArn;
      if (record.status !== 'RUNNING' || !ours || this.live.has(record.executionArn)) continue;
      this.logLine(`${record.name}: resuming from the beginning`);
      this.launch(record);
      resumed++;
    }
    return resumed;
  }

  startExecution(input: StartExecutionInput): { executionArn: string; startDate: Date } {
    if (this.closing) throw new StepFunctionsError('ServiceUnavailable', 'The local Step Functions is shutting down');
    assertStateMachineArn(input.stateMachineArn, this.stateMachineArn);
    const name = input.name ?? randomUUID();
    if (!EXECUTION_NAME.test(name)) throw new StepFunctionsError('InvalidName', `Invalid Name: '${name}'`);
    const inputText = input.input ?? '{}';
    assertJson(inputText);
    const inputBytes = Buffer.byteLength(inputText, 'utf8');
    if (inputBytes > STATES_PAYLOAD_BYTES) {
      const { error, cause } = awsLimitErrors.executionInputTooLarge(inputBytes);
      throw new StepFunctionsError(error, cause);
    }

    const executionArn = this.executionArnPrefix + name;
    const existing = this.executions.get(executionArn);
    if (existing) return idempotentStart(existing, inputText);

    const record: ExecutionRecord = {
      executionArn,
      stateMachineArn: this.stateMachineArn,
      name,
      status: 'RUNNING',
      startDate: new Date().toISOString(),
      input: inputText,
    };
    this.executions.set(executionArn, record);
    this.persist();
    this.logLine(`${name}: started`);
    this.launch(record);
    return { executionArn, startDate: new Date(record.startDate) };
  }

  describeExecution(executionArn: string): ExecutionDescription {
    return describeRecord(this.requireExecution(executionArn));
  }

  stopExecution(executionArn: string, error?: string, cause?: string): { stopDate: Date } {
    const record = this.requireExecution(executionArn);
    this.terminate(record, { status: 'ABORTED', error, cause });
    return { stopDate: new Date(record.stopDate ?? Date.now()) };
  }

  /** Newest first, like ListExecutions. */
  listExecutions(statusFilter?: ExecutionStatus): ExecutionListItem[] {
    return [...this.executions.values()]
      .filter((record) => record.stateMachineArn === this.stateMachineArn)
      .filter((record) => statusFilter === undefined || record.status === statusFilter)
      .sort((a, b) => b.startDate.localeCompare(a.startDate))
      .map(listItem);
  }

  /** SendTaskSuccess: the callback task waiting on `taskToken` ends with `output` (a JSON text) as its result. */
  sendTaskSuccess(taskToken: unknown, output: unknown): void {
    this.tokens.sendTaskSuccess(taskToken, output);
  }

  /** SendTaskFailure: the callback task waiting on `taskToken` fails with `error` and `cause`, as a Lambda error would. */
  sendTaskFailure(taskToken: unknown, error?: unknown, cause?: unknown): void {
    this.tokens.sendTaskFailure(taskToken, error, cause);
  }

  /** SendTaskHeartbeat: restarts the HeartbeatSeconds clock of the callback task waiting on `taskToken`. */
  sendTaskHeartbeat(taskToken: unknown): void {
    this.tokens.sendTaskHeartbeat(taskToken);
  }

  /**
   * The state transitions an execution made, as AWS bills them (each state entered, each retry), since
   * this instance started it; undefined for one it never ran. What a history would show, for measurements.
   */
  transitions(executionArn: string): number | undefined {
    return this.transitionCounts.get(executionArn);
  }

  /** Resolves once every change so far is on disk: AWS acknowledges a start only when it is durable. */
  async persisted(): Promise<void> {
    await this.stateFile?.flush();
  }

  /** Resolves with the execution as it is once it stops running: finished, or left RUNNING by close(). */
  async settled(executionArn: string): Promise<ExecutionDescription> {
    const record = this.requireExecution(executionArn);
    await this.live.get(executionArn)?.done;
    return describeRecord(record);
  }

  /** Resolves when no execution is running (for tests and shutdown). */
  async idle(): Promise<void> {
    // Executions may start others while we wait, hence the loop.
    while (this.live.size > 0) await Promise.all([...this.live.values()].map((live) => live.done));
    await this.stateFile?.flush();
  }

  /** Aborts running executions without marking them finished, so a restart resumes them. */
  async close(): Promise<void> {
    this.closing = true;
    for (const live of this.live.values()) {
      live.controller.abort();
      live.abortRun();
    }
    await this.idle();
  }

  private launch(record: ExecutionRecord): void {
    const controller = new AbortController();
    // Map/Parallel branches can wait concurrently on one signal; that is not a leak.
    setMaxListeners(0, controller.signal);
    const live: LiveExecution = { controller, abortRun: () => {}, done: Promise.resolve() };
    this.live.set(record.executionArn, live);
    live.done = this.supervise(record, live);
  }

  private async supervise(record: ExecutionRecord, live: LiveExecution): Promise<void> {
    const { signal } = live.controller;
    try {
      // Like AWS, StartExecution answers before the first state runs; otherwise a Task's
      // Lambda would start inside the caller's startExecution() call.
      await new Promise((resolve) => setImmediate(resolve));
      if (signal.aborted) return;
      const tokens = this.tokens.forExecution();
      const run = this.machine.run(JSON.parse(record.input) as LibJson, {
        overrides: { taskResourceLocalHandlers: this.runner.handlers(this.tasks.values(), signal, tokens) },
        context: { ...executionContext(record, this.stateMachineName), Task: tokens.context },
      });
      live.abortRun = run.abort;
      const watched = this.watchEvents(record, run.eventLogs);
      const output = await run.result;
      // The last events (the final state's output, the history count) are judged before success is.
      await watched;
      this.complete(record, { status: 'SUCCEEDED', output: JSON.stringify(output) });
    } catch (error) {
      // The library's ExecutionTimeoutError is a timeout (a resumed execution gets a fresh one, as it also
      // restarts from its first state). After a stop or close the record already says what happened;
      // complete() ignores it.
      this.complete(record, failureOutcome(error));
    } finally {
      live.controller.abort();
      this.live.delete(record.executionArn);
    }
  }

  private complete(record: ExecutionRecord, outcome: Outcome): void {
    if (record.status !== 'RUNNING' || this.closing) return;
    this.settle(record, outcome);
  }

  private terminate(record: ExecutionRecord, outcome: Outcome): void {
    if (record.status !== 'RUNNING') return;
    this.settle(record, outcome);
    const live = this.live.get(record.executionArn);
    live?.controller.abort();
    live?.abortRun();
  }

  private settle(record: ExecutionRecord, outcome: Outcome): void {
    Object.assign(record, withoutUndefined(outcome), { stopDate: new Date().toISOString() });
    this.persist();
    this.logLine(`${record.name}: ${record.status}${record.error ? ` (${record.error})` : ''}`);
  }

  /**
   * Logs the execution's events and holds it to the limits only its events show (history length, state
   * input and output sizes): the first one broken fails the execution. Draining the generator also keeps
   * the library's event queue from growing for the lifetime of a long polling loop.
   */
  private async watchEvents(record: ExecutionRecord, events: AsyncGenerator<LibEvent>): Promise<void> {
    const limits = new ExecutionLimits((stateName, stateType) => this.countedKind(stateName, stateType));
    try {
      for await (const event of events) {
        if (event.type === 'StateEntered' || event.type === 'StateRetried') {
          this.#stateTransitions++;
          this.transitionCounts.set(record.executionArn, (this.transitionCounts.get(record.executionArn) ?? 0) + 1);
        }
        const line = describeEvent(event);
        if (line) this.logLine(`${record.name}: ${line}`);
        const broken = limits.observe(event);
        if (broken) this.terminate(record, { status: 'FAILED', error: broken.error, cause: broken.cause });
      }
    } catch (error) {
      this.logLine(`${record.name}: event log failed: ${(error as Error).message}`);
    }
  }

  private countedKind(stateName: string, stateType: string): CountedKind {
    const task = this.tasks.get(stateName);
    if (task?.kind === 'lambda-callback') return 'callback';
    if (task && task.kind !== 'wait') return 'lambda';
    return stateType === 'Map' || stateType === 'Parallel' ? 'container' : 'plain';
  }

  private requireExecution(executionArn: string): ExecutionRecord {
    if (typeof executionArn !== 'string' || !EXECUTION_ARN.test(executionArn)) {
      throw new StepFunctionsError('InvalidArn', `Invalid Arn: '${String(executionArn)}'`);
    }
    const record = this.executions.get(executionArn);
    if (!record) throw new StepFunctionsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return record;
  }

  private persist(): void {
    this.stateFile?.schedule();
  }

  private snapshot(): string {
    return JSON.stringify({ version: 1, executions: [...this.executions.values()] });
  }
}

/**
 * How an execution failed, as Step Functions reports it. The library wraps the state's
 * error in ExecutionError.cause and reports `cause ?? message` as the Cause.
 */
function failureOutcome(error: unknown): Outcome {
  if (error instanceof ExecutionTimeoutError) return { status: 'TIMED_OUT', error: 'States.Timeout', cause: 'The execution timed out' };
  const failure = error instanceof ExecutionError && error.cause instanceof Error ? error.cause : error;
  if (!(failure instanceof Error)) return { status: 'FAILED', error: 'States.Runtime', cause: String(failure) };
  const cause = (failure as Error & { cause?: unknown }).cause ?? failure.message;
  return { status: 'FAILED', error: failure.name, cause: typeof cause === 'string' ? cause : JSON.stringify(cause) };
}

function describeEvent(event: LibEvent): string | undefined {
  switch (event.type) {
    case 'StateFailed':
      return `state '${event.state.name}' failed with ${event.Error}`;
    case 'StateRetried':
      return `state '${event.state.name}' retry #${event.retry.attempt}`;
    case 'StateCaught':
      return `state '${event.state.name}' caught, next '${event.catch.catcher.Next}'`;
    default:
      return undefined;
  }
}

function safeLogger(log: ((line: string) => void) | undefined): (line: string) => void {
  return (line) => {
    try {
      log?.(`[sfn] ${line}`);
    } catch {
      // A failing logger must never fail an execution.
    }
  };
}

