/**
 * Local Step Functions: runs the synthesized state machine in-process with
 * aws-local-stepfunctions, and speaks enough of the AWS JSON 1.0 protocol that the
 * Lambda handlers' unchanged `SFNClient` calls work against it. Executions are held to AWS's limits
 * (local/aws-limits.ts), so a definition or a function that would break one in AWS breaks it here:
 * a Wait's seconds must be a whole number, state input and output at most 256 KiB, and the history at
 * most 25,000 events.
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StateMachine as LibStateMachine } from 'aws-local-stepfunctions';

import { StateMachine, ExecutionError } from './aws-local-stepfunctions.ts';
import { STATES_PAYLOAD_BYTES, awsLimitErrors, jsonBytes, type AwsLimitError } from './aws-limits.ts';
import { ExecutionLimits, type CountedKind, type LibEvent } from './execution-limits.ts';
import { replacePrivateFile } from './private-files.ts';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface LocalStepFunctionsOptions {
  stateMachineArn: string;
  definition: object; // ASL, already resolved
  /** Invoke a Lambda by the ARN/name found in a Task state; resolves with the handler's return value, rejects with an Error whose `name` is the Lambda errorType (e.g. 'TransientUpstreamError') and `message` the errorMessage. */
  invokeLambda(functionArn: string, payload: unknown): Promise<unknown>;
  /**
   * Multiplies every Wait and every Retry interval; e.g. 0.01. Default 1. A Wait's seconds must still be a
   * whole number, as in AWS: the scale applies after that check, so `1` at 0.01 waits 10 ms.
   */
  timeScale?: number;
  /** JSON file where executions are persisted (write temp + rename). On start, executions that were RUNNING are re-run from the beginning with their original input (the workflow is designed to be idempotent). */
  stateFile?: string;
  log?(line: string): void;
}

export interface StartExecutionInput {
  stateMachineArn: string;
  name?: string;
  input?: string;
}

export interface ExecutionDescription {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
  input: string;
  output?: string;
  error?: string;
  cause?: string;
}

export type ExecutionListItem = Omit<ExecutionDescription, 'input' | 'output' | 'error' | 'cause'>;

/** A service error; `name` is the AWS error code the SDK turns into an exception class. */
export class StepFunctionsError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

/** Node timers overflow above 2^31-1 ms and then fire at once, so longer delays are chunked. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const MAX_TIMER_SECONDS = Math.floor(MAX_TIMER_MS / 1000);
const LOCAL_WAIT_RESOURCE = 'arn:aws:states:::local:wait';
/** Step Functions keeps closed executions for 90 days; the state file does the same. */
const RETENTION_MS = 90 * 24 * 60 * 60 * 1000;
const EXECUTION_NAME = /^[0-9A-Za-z_-]{1,80}$/;
const STATE_MACHINE_ARN = /^arn:([^:]+):states:([^:]+):([^:]+):stateMachine:([^:]+)$/;
const EXECUTION_ARN = /^arn:[^:]+:states:[^:]+:[^:]+:execution:[^:]+:[^:]+$/;
const LAMBDA_INVOKE_RESOURCE = /^arn:[^:]+:states:::lambda:invoke$/;
const LAMBDA_FUNCTION_ARN = /^arn:[^:]+:lambda:[^:]+:[^:]+:function:[^:]+(:[^:]+)?$/;
const STATUSES: readonly ExecutionStatus[] = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'];

type LibJson = Parameters<LibStateMachine['run']>[0];
type LocalHandler = (input: LibJson) => Promise<LibJson>;

interface AslRetrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxDelaySeconds?: number;
  [field: string]: unknown;
}

interface AslState {
  Type: string;
  Resource?: string;
  Retry?: AslRetrier[];
  TimeoutSeconds?: number;
  TimeoutSecondsPath?: string;
  Seconds?: number;
  SecondsPath?: string;
  Timestamp?: string;
  TimestampPath?: string;
  Iterator?: AslDocument;
  ItemProcessor?: AslDocument;
  Branches?: AslDocument[];
  [field: string]: unknown;
}

interface AslDocument {
  StartAt: string;
  States: Record<string, AslState>;
  TimeoutSeconds?: number;
  [field: string]: unknown;
}

/** What a (possibly rewritten) Task state does when the library calls our local handler. */
type TaskKind =
  | { kind: 'wait'; stateName: string; scaled: boolean }
  | { kind: 'lambda-invoke'; stateName: string }
  | { kind: 'lambda-arn'; stateName: string; functionArn: string };
type WaitTask = Extract<TaskKind, { kind: 'wait' }>;

interface PreparedDefinition {
  definition: AslDocument;
  tasks: Map<string, TaskKind>;
  timeoutMs: number | undefined;
}

/** The persisted shape; dates are ISO strings so the state file is plain JSON. */
interface ExecutionRecord {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  startDate: string;
  stopDate?: string;
  input: string;
  output?: string;
  error?: string;
  cause?: string;
}

type Outcome = Pick<ExecutionRecord, 'status' | 'output' | 'error' | 'cause'>;

interface LiveExecution {
  /** Aborted whenever the execution ends for any reason; cancels our waits and timers. */
  controller: AbortController;
  abortRun(): void;
  done: Promise<void>;
}

export class LocalStepFunctions {
  readonly stateMachineArn: string;
  private readonly invokeLambda: LocalStepFunctionsOptions['invokeLambda'];
  private readonly timeScale: number;
  private readonly machine: LibStateMachine;
  private readonly tasks: Map<string, TaskKind>;
  private readonly timeoutMs: number | undefined;
  private readonly stateMachineName: string;
  private readonly executionArnPrefix: string;
  private readonly executions = new Map<string, ExecutionRecord>();
  private readonly live = new Map<string, LiveExecution>();
  private readonly stateFile: StateFile | undefined;
  private readonly logLine: (line: string) => void;
  private closing = false;
  #stateTransitions = 0;

  constructor(options: LocalStepFunctionsOptions) {
    this.stateMachineArn = options.stateMachineArn;
    this.invokeLambda = options.invokeLambda;
    this.timeScale = validTimeScale(options.timeScale ?? 1);
    this.logLine = safeLogger(options.log);
    const [, partition, region, account, name] = STATE_MACHINE_ARN.exec(options.stateMachineArn) ?? [];
    if (!name) throw new Error(`Not a state machine ARN: ${options.stateMachineArn}`);
    this.stateMachineName = name;
    this.executionArnPrefix = `arn:${partition}:states:${region}:${account}:execution:${name}:`;

    validateDefinition(options.definition, options.stateMachineArn);
    const prepared = prepareDefinition(options.definition as AslDocument, this.timeScale);
    this.tasks = prepared.tasks;
    this.timeoutMs = prepared.timeoutMs;
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
      const run = this.machine.run(JSON.parse(record.input) as LibJson, {
        overrides: { taskResourceLocalHandlers: this.taskHandlers(signal) },
        context: executionContext(record, this.stateMachineName),
      });
      live.abortRun = run.abort;
      const watched = this.watchEvents(record, run.eventLogs);
      this.enforceTimeout(record, signal);
      const output = await run.result;
      // The last events (the final state's output, the history count) are judged before success is.
      await watched;
      this.complete(record, { status: 'SUCCEEDED', output: JSON.stringify(output) });
    } catch (error) {
      // After a stop, timeout or close the record already says what happened; complete() ignores it.
      this.complete(record, failureOutcome(error));
    } finally {
      live.controller.abort();
      this.live.delete(record.executionArn);
    }
  }

  /**
   * Definition-level TimeoutSeconds is enforced here rather than by the library, because
   * its setTimeout overflows for long timeouts and it cannot tell us apart from an abort.
   * A resumed execution gets a fresh timeout, as it also restarts from its first state.
   */
  private enforceTimeout(record: ExecutionRecord, signal: AbortSignal): void {
    const timeoutMs = this.timeoutMs;
    if (timeoutMs === undefined) return;
    void sleep(timeoutMs, signal).then((elapsed) => {
      if (elapsed) this.terminate(record, { status: 'TIMED_OUT', error: 'States.Timeout', cause: 'The execution timed out' });
    });
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

  private taskHandlers(signal: AbortSignal): Record<string, LocalHandler> {
    const handlers: Record<string, LocalHandler> = {};
    for (const task of this.tasks.values()) handlers[task.stateName] = (input) => this.runTask(task, input, signal);
    return handlers;
  }

  private async runTask(task: TaskKind, input: LibJson, signal: AbortSignal): Promise<LibJson> {
    // Events are judged on microtasks: one turn of the event loop lets every event so far be judged, so
    // an execution past a limit never invokes another function.
    await new Promise((resolve) => setImmediate(resolve));
    // The library re-enters a Retry after an abort (its sleep resolves early), so refuse here.
    if (signal.aborted) throw statesRuntimeError('The execution was stopped');
    if (task.kind === 'wait') return this.runWait(task, input, signal);
    // What Parameters made is the task's input; what the integration answers is its result: both capped.
    assertPayloadSize(input, (bytes) => awsLimitErrors.statesInputTooLarge(task.stateName, bytes));
    const result =
      task.kind === 'lambda-invoke'
        ? await this.runLambdaInvoke(task, input)
        : // A plain function ARN is Step Functions' "payload response only" form: the result is the output.
          toJson(await this.callLambda(task.functionArn, input));
    assertPayloadSize(result, (bytes) => awsLimitErrors.statesOutputTooLarge(task.stateName, bytes));
    return result;
  }

  private async runWait(task: WaitTask, parameters: LibJson, signal: AbortSignal): Promise<LibJson> {
    const { input, seconds, timestamp } = parameters as { input: LibJson; seconds?: unknown; timestamp?: unknown };
    const delayMs = task.scaled
      ? waitSeconds(seconds, task.stateName) * 1000 * this.timeScale
      : msUntil(timestamp, task.stateName);
    if (!(await sleep(delayMs, signal))) throw statesRuntimeError('The execution was stopped');
    return input;
  }

  private async runLambdaInvoke(task: TaskKind, parameters: LibJson): Promise<LibJson> {
    const { FunctionName, Payload, InvocationType } = (parameters ?? {}) as Record<string, unknown>;
    if (typeof FunctionName !== 'string') {
      throw statesRuntimeError(`Task state '${task.stateName}': Parameters.FunctionName must be a string`);
    }
    if (InvocationType !== undefined && InvocationType !== 'RequestResponse') {
      throw statesRuntimeError(`Task state '${task.stateName}': InvocationType ${String(InvocationType)} is unsupported locally`);
    }
    const result = await this.callLambda(FunctionName, Payload ?? {});
    // The Lambda Invoke API response; CDK's default OutputPath/ResultSelector picks `$.Payload`.
    return { ExecutedVersion: '$LATEST', Payload: toJson(result), StatusCode: 200 };
  }

  private async callLambda(functionArn: string, payload: unknown): Promise<unknown> {
    try {
      return await this.invokeLambda(functionArn, payload);
    } catch (error) {
      throw lambdaTaskError(error);
    }
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
        if (event.type === 'StateEntered' || event.type === 'StateRetried') this.#stateTransitions++;
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

/** A node:http request handler speaking the AWS JSON 1.0 protocol so that `new SFNClient({ endpoint })` works unchanged. */
export function stepFunctionsHttpHandler(
  sfn: LocalStepFunctions,
): (req: IncomingMessage, res: ServerResponse, body: Buffer) => Promise<void> {
  return async (req, res, body) => {
    try {
      const operation = operationFor(req.headers['x-amz-target']);
      const result = operation(sfn, parseRequestBody(body));
      // A caller that was told "started" must find the execution again after a crash of this process.
      await sfn.persisted();
      sendJson(res, 200, result);
    } catch (error) {
      sendError(res, error);
    }
  };
}

type Operation = (sfn: LocalStepFunctions, request: Record<string, unknown>) => unknown;

const OPERATIONS: Record<string, Operation> = {
  StartExecution(sfn, request) {
    const started = sfn.startExecution({
      stateMachineArn: requiredString(request, 'stateMachineArn'),
      name: optionalString(request, 'name'),
      input: optionalString(request, 'input'),
    });
    return { executionArn: started.executionArn, startDate: epochSeconds(started.startDate) };
  },
  DescribeExecution(sfn, request) {
    return describeWire(sfn.describeExecution(requiredString(request, 'executionArn')));
  },
  StopExecution(sfn, request) {
    const { stopDate } = sfn.stopExecution(
      requiredString(request, 'executionArn'),
      optionalString(request, 'error'),
      optionalString(request, 'cause'),
    );
    return { stopDate: epochSeconds(stopDate) };
  },
  ListExecutions(sfn, request) {
    assertStateMachineArn(requiredString(request, 'stateMachineArn'), sfn.stateMachineArn);
    const statusFilter = optionalString(request, 'statusFilter');
    if (statusFilter !== undefined && !STATUSES.includes(statusFilter as ExecutionStatus)) {
      throw new StepFunctionsError('ValidationException', `Invalid statusFilter: '${statusFilter}'`);
    }
    return paginate(sfn.listExecutions(statusFilter as ExecutionStatus | undefined), request);
  },
  SendTaskSuccess: unsupportedOperation('SendTaskSuccess'),
  SendTaskFailure: unsupportedOperation('SendTaskFailure'),
  SendTaskHeartbeat: unsupportedOperation('SendTaskHeartbeat'),
};

function operationFor(target: string | string[] | undefined): Operation {
  const [service, name] = typeof target === 'string' ? target.split('.') : [];
  const operation = service === 'AWSStepFunctions' && name && Object.hasOwn(OPERATIONS, name) ? OPERATIONS[name] : undefined;
  if (!operation) {
    throw new StepFunctionsError('UnknownOperationException', `Operation ${String(target)} is not supported by the local Step Functions`);
  }
  return operation;
}

function unsupportedOperation(name: string): Operation {
  return () => {
    throw new StepFunctionsError(
      'UnsupportedOperation',
      `${name} is not supported by the local Step Functions (no .waitForTaskToken integration runs locally)`,
    );
  };
}

function paginate(items: ExecutionListItem[], request: Record<string, unknown>) {
  const maxResults = typeof request.maxResults === 'number' && request.maxResults > 0 ? Math.min(request.maxResults, 1000) : 100;
  const token = optionalString(request, 'nextToken');
  const offset = token === undefined ? 0 : Number(token);
  if (!Number.isInteger(offset) || offset < 0) throw new StepFunctionsError('InvalidToken', `Invalid Token: '${token}'`);
  const page = items.slice(offset, offset + maxResults);
  const nextOffset = offset + page.length;
  return {
    executions: page.map((item) => ({ ...item, startDate: epochSeconds(item.startDate), stopDate: optionalEpoch(item.stopDate) })),
    nextToken: nextOffset < items.length ? String(nextOffset) : undefined,
  };
}

function describeWire(description: ExecutionDescription) {
  return {
    ...description,
    startDate: epochSeconds(description.startDate),
    stopDate: optionalEpoch(description.stopDate),
    inputDetails: { included: true },
    outputDetails: description.output === undefined ? undefined : { included: true },
  };
}

function parseRequestBody(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new StepFunctionsError('SerializationException', 'Request body is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new StepFunctionsError('SerializationException', 'Request body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function requiredString(request: Record<string, unknown>, field: string): string {
  const value = optionalString(request, field);
  if (value === undefined) throw new StepFunctionsError('ValidationException', `Missing required field: ${field}`);
  return value;
}

function optionalString(request: Record<string, unknown>, field: string): string | undefined {
  const value = request[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new StepFunctionsError('ValidationException', `Field ${field} must be a string`);
  return value;
}

function sendJson(res: ServerResponse, statusCode: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(statusCode, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
  });
  res.end(text);
}

function sendError(res: ServerResponse, error: unknown): void {
  if (error instanceof StepFunctionsError) {
    sendJson(res, 400, { __type: error.code, message: error.message });
  } else {
    sendJson(res, 500, { __type: 'InternalFailure', message: (error as Error)?.message ?? String(error) });
  }
}

/** JSON 1.0 timestamps are epoch seconds. */
function epochSeconds(date: Date): number {
  return date.getTime() / 1000;
}

function optionalEpoch(date: Date | undefined): number | undefined {
  return date === undefined ? undefined : epochSeconds(date);
}

function assertStateMachineArn(arn: string, expected: string): void {
  if (typeof arn !== 'string' || !STATE_MACHINE_ARN.test(arn)) {
    throw new StepFunctionsError('InvalidArn', `Invalid Arn: '${String(arn)}'`);
  }
  if (arn !== expected) throw new StepFunctionsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
}

function assertJson(text: string): void {
  try {
    JSON.parse(text);
  } catch (error) {
    throw new StepFunctionsError('InvalidExecutionInput', `Invalid State Machine Execution Input: '${(error as Error).message}'`);
  }
}

/** AWS: same name + same input while RUNNING returns the original execution; anything else is a conflict. */
function idempotentStart(existing: ExecutionRecord, inputText: string): { executionArn: string; startDate: Date } {
  if (existing.status === 'RUNNING' && existing.input === inputText) {
    return { executionArn: existing.executionArn, startDate: new Date(existing.startDate) };
  }
  throw new StepFunctionsError('ExecutionAlreadyExists', `Execution Already Exists: '${existing.executionArn}'`);
}

function describeRecord(record: ExecutionRecord): ExecutionDescription {
  return withoutUndefined({
    ...record,
    startDate: new Date(record.startDate),
    stopDate: record.stopDate === undefined ? undefined : new Date(record.stopDate),
  }) as ExecutionDescription;
}

function listItem(record: ExecutionRecord): ExecutionListItem {
  const { executionArn, stateMachineArn, name, status, startDate, stopDate } = describeRecord(record);
  return withoutUndefined({ executionArn, stateMachineArn, name, status, startDate, stopDate }) as ExecutionListItem;
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

function executionContext(record: ExecutionRecord, stateMachineName: string) {
  return {
    Execution: { Id: record.executionArn, Name: record.name, StartTime: record.startDate },
    StateMachine: { Id: record.stateMachineArn, Name: stateMachineName },
  };
}

/**
 * How an execution failed, as Step Functions reports it. The library wraps the state's
 * error in ExecutionError.cause and reports `cause ?? message` as the Cause.
 */
function failureOutcome(error: unknown): Outcome {
  const failure = error instanceof ExecutionError && error.cause instanceof Error ? error.cause : error;
  if (!(failure instanceof Error)) return { status: 'FAILED', error: 'States.Runtime', cause: String(failure) };
  const cause = (failure as Error & { cause?: unknown }).cause ?? failure.message;
  return { status: 'FAILED', error: failure.name, cause: typeof cause === 'string' ? cause : JSON.stringify(cause) };
}

/**
 * A Lambda failure shaped as Step Functions reports it: Error = errorType and Cause = the
 * JSON error payload. aws-local-stepfunctions matches Retry/Catch ErrorEquals against
 * `error.name`, hands `error.message` to a Catch as its Cause, and reports
 * `error.cause ?? error.message` when the execution fails, so `cause` stays unset.
 */
function lambdaTaskError(error: unknown): Error {
  const errorType = error instanceof Error && error.name ? error.name : 'Error';
  const errorMessage = error instanceof Error ? error.message : String(error);
  const taskError = new Error(JSON.stringify({ errorType, errorMessage }));
  taskError.name = errorType;
  return taskError;
}

/**
 * States.Runtime in AWS bypasses Retry and Catch. The library honours duck-typed
 * `isRetryable`/`isCatchable` flags (`error.isRetryable ?? true`), so we set them.
 */
function statesRuntimeError(message: string): Error {
  return terminalError({ error: 'States.Runtime', cause: message });
}

/** An error no Retry or Catch handles: States.Runtime, States.DataLimitExceeded. */
function terminalError({ error, cause }: AwsLimitError): Error {
  return Object.assign(new Error(cause), { name: error, isRetryable: false, isCatchable: false });
}

function assertPayloadSize(value: unknown, tooLarge: (bytes: number) => AwsLimitError): void {
  const bytes = jsonBytes(value);
  if (bytes > STATES_PAYLOAD_BYTES) throw terminalError(tooLarge(bytes));
}

function toJson(value: unknown): LibJson {
  // Mirrors the serialisation a real invocation goes through (Dates become strings, undefined null).
  const text = JSON.stringify(value);
  return text === undefined ? null : (JSON.parse(text) as LibJson);
}

/** Like AWS, a whole number of seconds or the execution fails; the local time scale applies afterwards. */
function waitSeconds(seconds: unknown, stateName: string): number {
  if (typeof seconds !== 'number' || !Number.isSafeInteger(seconds) || seconds < 0) {
    throw terminalError(awsLimitErrors.statesWaitSeconds(stateName, seconds));
  }
  return seconds;
}

function msUntil(timestamp: unknown, stateName: string): number {
  const time = typeof timestamp === 'string' ? Date.parse(timestamp) : Number.NaN;
  if (Number.isNaN(time)) {
    throw statesRuntimeError(`Wait state '${stateName}': timestamp must be an RFC 3339 string, got ${JSON.stringify(timestamp)}`);
  }
  return Math.max(0, time - Date.now());
}

/** Resolves true once `ms` has elapsed, false as soon as `signal` aborts. Handles delays beyond Node's timer limit. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const deadline = Date.now() + ms;
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const tick = () => {
      const remaining = deadline - Date.now();
      if (remaining > 0) {
        timer = setTimeout(tick, Math.min(remaining, MAX_TIMER_MS));
        return;
      }
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    tick();
  });
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

function validTimeScale(timeScale: number): number {
  if (!Number.isFinite(timeScale) || timeScale < 0) throw new Error(`timeScale must be a non-negative number, got ${timeScale}`);
  return timeScale;
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

/** Fails loudly at startup, with the library's own validator, on definitions it cannot run. */
function validateDefinition(definition: object, stateMachineArn: string): void {
  try {
    new StateMachine(definition as never);
  } catch (error) {
    throw new Error(`Definition of ${stateMachineArn} is invalid: ${(error as Error).message}`);
  }
}

/**
 * Rewrites a copy of the definition so the library runs it with our semantics:
 *
 * - Wait states become Task states served by our own handler. The library's
 *   `waitTimeOverrides` is one fixed duration per state name, which cannot express a
 *   SecondsPath that changes each loop iteration, and its SecondsPath only accepts
 *   integers. The rewritten Task keeps InputPath/OutputPath/Next/End and gets
 *   `Parameters: { "input.$": "$", "seconds.$": <SecondsPath> }` (or `seconds`,
 *   `timestamp`, `timestamp.$`), so the library still resolves the path, including
 *   `$$.` context paths, and our handler sleeps `seconds * timeScale` and returns the
 *   input unchanged, exactly what a Wait outputs. Timestamp waits are absolute, so they
 *   are not scaled.
 * - Retry IntervalSeconds (default 1) and MaxDelaySeconds are multiplied by timeScale,
 *   which keeps BackoffRate and JitterStrategy working. `retryIntervalOverrides` would
 *   replace them with one fixed interval.
 * - Task states without a timeout get the largest one a Node timer can hold, because the
 *   library defaults to 60 s while Step Functions has no default. Task timeouts are not
 *   scaled: Lambda code runs in real time.
 * - Definition-level TimeoutSeconds is removed and enforced, scaled, by LocalStepFunctions.
 */
function prepareDefinition(original: AslDocument, timeScale: number): PreparedDefinition {
  const definition = structuredClone(original);
  const tasks = new Map<string, TaskKind>();
  prepareStates(definition, timeScale, tasks);
  const timeoutSeconds = definition.TimeoutSeconds;
  delete definition.TimeoutSeconds;
  return { definition, tasks, timeoutMs: timeoutSeconds === undefined ? undefined : timeoutSeconds * 1000 * timeScale };
}

function prepareStates(document: AslDocument, timeScale: number, tasks: Map<string, TaskKind>): void {
  for (const [name, state] of Object.entries(document.States)) {
    document.States[name] = prepareState(name, state, timeScale, tasks);
  }
}

function prepareState(name: string, state: AslState, timeScale: number, tasks: Map<string, TaskKind>): AslState {
  if (state.Retry) state.Retry = state.Retry.map((retrier) => scaleRetrier(retrier, timeScale));
  switch (state.Type) {
    case 'Wait':
      registerTask(tasks, { kind: 'wait', stateName: name, scaled: state.Timestamp === undefined && state.TimestampPath === undefined });
      return waitAsTask(state);
    case 'Task':
      registerTask(tasks, classifyTask(name, state.Resource));
      return withTaskTimeout(state);
    case 'Map':
      for (const nested of [state.Iterator, state.ItemProcessor]) if (nested) prepareStates(nested, timeScale, tasks);
      return state;
    case 'Parallel':
      for (const branch of state.Branches ?? []) prepareStates(branch, timeScale, tasks);
      return state;
    default:
      return state;
  }
}

/** Local handlers are keyed by state name across nested branches, so names must be unique. */
function registerTask(tasks: Map<string, TaskKind>, task: TaskKind): void {
  if (tasks.has(task.stateName)) throw new Error(`Duplicate Task/Wait state name '${task.stateName}' in the definition`);
  tasks.set(task.stateName, task);
}

function classifyTask(stateName: string, resource: string | undefined): TaskKind {
  if (resource && LAMBDA_INVOKE_RESOURCE.test(resource)) return { kind: 'lambda-invoke', stateName };
  if (resource && LAMBDA_FUNCTION_ARN.test(resource)) return { kind: 'lambda-arn', stateName, functionArn: resource };
  throw new Error(
    `Task state '${stateName}' uses resource '${String(resource)}'; the local Step Functions only runs ` +
      'arn:aws:states:::lambda:invoke and Lambda function ARNs',
  );
}

function waitAsTask(wait: AslState): AslState {
  const { Seconds, SecondsPath, Timestamp, TimestampPath, ...rest } = wait;
  const parameters: Record<string, unknown> = { 'input.$': '$' };
  if (Seconds !== undefined) parameters.seconds = Seconds;
  else if (SecondsPath !== undefined) parameters['seconds.$'] = SecondsPath;
  else if (Timestamp !== undefined) parameters.timestamp = Timestamp;
  else if (TimestampPath !== undefined) parameters['timestamp.$'] = TimestampPath;
  return { ...rest, Type: 'Task', Resource: LOCAL_WAIT_RESOURCE, Parameters: parameters, TimeoutSeconds: MAX_TIMER_SECONDS };
}

function withTaskTimeout(task: AslState): AslState {
  if (task.TimeoutSecondsPath !== undefined) return task;
  return { ...task, TimeoutSeconds: Math.min(task.TimeoutSeconds ?? MAX_TIMER_SECONDS, MAX_TIMER_SECONDS) };
}

function scaleRetrier(retrier: AslRetrier, timeScale: number): AslRetrier {
  const scaled: AslRetrier = { ...retrier, IntervalSeconds: (retrier.IntervalSeconds ?? 1) * timeScale };
  if (retrier.MaxDelaySeconds !== undefined) scaled.MaxDelaySeconds = retrier.MaxDelaySeconds * timeScale;
  return scaled;
}

/**
 * Persists executions with write-to-temp + rename so a crash never leaves half a file (0600: the inputs
 * hold prompts and owners).
 * Writes are coalesced: hundreds of executions changing status at once cost one write
 * in flight plus at most one queued, each with the latest snapshot.
 */
class StateFile {
  private writing: Promise<void> | undefined;
  private dirty = false;
  private failure: unknown;

  constructor(
    private readonly path: string,
    private readonly snapshot: () => string,
    private readonly log: (line: string) => void,
  ) {}

  load(): ExecutionRecord[] {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    let parsed: { executions?: ExecutionRecord[] };
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new Error(`State file ${this.path} is not valid JSON: ${(error as Error).message}`);
    }
    if (!Array.isArray(parsed.executions)) throw new Error(`State file ${this.path} has no executions list`);
    return parsed.executions.filter(isRetained);
  }

  schedule(): void {
    this.dirty = true;
    this.writing ??= this.drain();
  }

  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.failure !== undefined) {
      const failure = this.failure;
      this.failure = undefined;
      throw failure;
    }
  }

  private async drain(): Promise<void> {
    try {
      while (this.dirty) {
        this.dirty = false;
        await this.write(this.snapshot());
      }
    } catch (error) {
      // Kept for flush() to rethrow; an unawaited rejection here would crash the process.
      this.failure = error;
      this.log(`could not persist executions to ${this.path}: ${(error as Error).message}`);
    } finally {
      this.writing = undefined;
    }
  }

  private async write(text: string): Promise<void> {
    await replacePrivateFile(this.path, text);
  }
}

function isRetained(record: ExecutionRecord): boolean {
  return record.status === 'RUNNING' || !record.stopDate || Date.now() - Date.parse(record.stopDate) < RETENTION_MS;
}
