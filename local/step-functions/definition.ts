/**
 * The definition as the library runs it: validated as written, then rewritten so that the library runs it
 * with AWS's semantics and the local time scale. Pure, apart from the library's validator.
 */
import { StateMachine } from '../aws-local-stepfunctions.ts';
import type { AslDefinition, AslRetrier, AslState } from '../asl.ts';
import { MAX_TIMER_MS, type TimeScale } from '../time-scale.ts';

/** The longest timeout, in whole seconds, that the library's Node timers hold. */
const MAX_TIMER_SECONDS = Math.floor(MAX_TIMER_MS / 1000);
const LOCAL_WAIT_RESOURCE = 'arn:aws:states:::local:wait';
const LAMBDA_INVOKE_RESOURCE = /^arn:[^:]+:states:::lambda:invoke$/;
const LAMBDA_CALLBACK_RESOURCE = /^arn:[^:]+:states:::lambda:invoke\.waitForTaskToken$/;
/** The context object's task token: only a callback task's Parameters may read it (see taskTokenReferences). */
const TASK_CONTEXT = '$$.Task';
const TASK_TOKEN = '$$.Task.Token';
const LAMBDA_FUNCTION_ARN = /^arn:[^:]+:lambda:[^:]+:[^:]+:function:[^:]+(:[^:]+)?$/;

/** What a (possibly rewritten) Task state does when the library calls our local handler. */
export type TaskKind =
  | { kind: 'wait'; stateName: string; scaled: boolean }
  | { kind: 'lambda-invoke'; stateName: string }
  | { kind: 'lambda-callback'; stateName: string }
  | { kind: 'lambda-arn'; stateName: string; functionArn: string };
export type WaitTask = Extract<TaskKind, { kind: 'wait' }>;

/**
 * What a callback task's rewritten Parameters make of its input: the original Parameters, and its
 * timeouts resolved from the state's input (after InputPath) when they are paths.
 */
export interface CallbackParameters {
  parameters: unknown;
  timeoutSeconds?: unknown;
  heartbeatSeconds?: unknown;
}

export interface PreparedDefinition {
  definition: AslDefinition;
  tasks: Map<string, TaskKind>;
}

/** Fails loudly at startup, with the library's own validator, on definitions it cannot run. */
export function validateDefinition(definition: object, stateMachineArn: string): void {
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
 *   `$$.` context paths, and our handler sleeps the seconds, scaled, and returns the
 *   input unchanged, exactly what a Wait outputs. Timestamp waits are absolute, so they
 *   are not scaled.
 * - Retry IntervalSeconds (default 1) and MaxDelaySeconds are scaled,
 *   which keeps BackoffRate and JitterStrategy working. `retryIntervalOverrides` would
 *   replace them with one fixed interval.
 * - Task states without a timeout get the largest one a Node timer can hold, because the
 *   library defaults to 60 s while Step Functions has no default. Task timeouts are not
 *   scaled: Lambda code runs in real time.
 * - Definition-level TimeoutSeconds is scaled, and capped at what a Node timer holds (the library's
 *   timer would fire at once beyond it): the library times the execution out with ExecutionTimeoutError.
 * - A callback task (`lambda:invoke.waitForTaskToken`) gets Parameters that hold its own under `parameters`
 *   and its TimeoutSeconds(Path) and HeartbeatSeconds(Path) beside them, which our handler enforces on the
 *   local time scale (local/step-functions/callback-wait.ts); the library's own timeout is set out of reach.
 *   Its Retry and Catch blocks that name States.Timeout also name States.HeartbeatTimeout: in AWS the first
 *   matches both.
 */
export function prepareDefinition(original: AslDefinition, scale: TimeScale): PreparedDefinition {
  const definition = structuredClone(original);
  const tasks = new Map<string, TaskKind>();
  assertTaskTokenUse(definition);
  prepareStates(definition, scale, tasks);
  if (definition.TimeoutSeconds !== undefined) {
    definition.TimeoutSeconds = Math.min(scale.seconds(definition.TimeoutSeconds), MAX_TIMER_SECONDS);
  }
  return { definition, tasks };
}

function prepareStates(document: AslDefinition, scale: TimeScale, tasks: Map<string, TaskKind>): void {
  for (const [name, state] of Object.entries(document.States)) {
    document.States[name] = prepareState(name, state, scale, tasks);
  }
}

function prepareState(name: string, state: AslState, scale: TimeScale, tasks: Map<string, TaskKind>): AslState {
  if (state.Retry) state.Retry = state.Retry.map((retrier) => scaleRetrier(retrier, scale));
  switch (state.Type) {
    case 'Wait':
      registerTask(tasks, { kind: 'wait', stateName: name, scaled: state.Timestamp === undefined && state.TimestampPath === undefined });
      return waitAsTask(state);
    case 'Task': {
      const task = classifyTask(name, state.Resource);
      registerTask(tasks, task);
      return task.kind === 'lambda-callback' ? callbackAsTask(name, state) : withTaskTimeout(state);
    }
    case 'Map':
      for (const nested of [state.Iterator, state.ItemProcessor]) if (nested) prepareStates(nested, scale, tasks);
      return state;
    case 'Parallel':
      for (const branch of state.Branches ?? []) prepareStates(branch, scale, tasks);
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
  if (resource && LAMBDA_CALLBACK_RESOURCE.test(resource)) return { kind: 'lambda-callback', stateName };
  if (resource && LAMBDA_FUNCTION_ARN.test(resource)) return { kind: 'lambda-arn', stateName, functionArn: resource };
  throw new Error(
    `Task state '${stateName}' uses resource '${String(resource)}'; the local Step Functions only runs ` +
      'arn:aws:states:::lambda:invoke, arn:aws:states:::lambda:invoke.waitForTaskToken and Lambda function ARNs',
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

function scaleRetrier(retrier: AslRetrier, scale: TimeScale): AslRetrier {
  const scaled: AslRetrier = { ...retrier, IntervalSeconds: scale.seconds(retrier.IntervalSeconds ?? 1) };
  if (retrier.MaxDelaySeconds !== undefined) scaled.MaxDelaySeconds = scale.seconds(retrier.MaxDelaySeconds);
  return scaled;
}


/**
 * A callback task as the library runs it: see prepareDefinition. The library's validator has checked that
 * its static timeouts are whole seconds; AWS's also wants HeartbeatSeconds below TimeoutSeconds.
 */
function callbackAsTask(name: string, task: AslState): AslState {
  const { TimeoutSeconds, TimeoutSecondsPath, HeartbeatSeconds, HeartbeatSecondsPath, Parameters, ...rest } = task;
  if (!taskTokenReferences(Parameters)) {
    // AWS accepts such a task, which then waits for a token nobody was given until it times out: refused here.
    throw new Error(`Task state '${name}' waits for a task token but its Parameters never pass on ${TASK_TOKEN}`);
  }
  if (typeof TimeoutSeconds === 'number' && typeof HeartbeatSeconds === 'number' && HeartbeatSeconds >= TimeoutSeconds) {
    throw new Error(`Task state '${name}': HeartbeatSeconds (${HeartbeatSeconds}) must be smaller than TimeoutSeconds (${TimeoutSeconds})`);
  }
  const parameters: Record<string, unknown> = { parameters: Parameters };
  if (TimeoutSeconds !== undefined) parameters.timeoutSeconds = TimeoutSeconds;
  else if (TimeoutSecondsPath !== undefined) parameters['timeoutSeconds.$'] = TimeoutSecondsPath;
  if (HeartbeatSeconds !== undefined) parameters.heartbeatSeconds = HeartbeatSeconds;
  else if (HeartbeatSecondsPath !== undefined) parameters['heartbeatSeconds.$'] = HeartbeatSecondsPath;
  const rewritten: AslState = { ...rest, Parameters: parameters, TimeoutSeconds: MAX_TIMER_SECONDS };
  // The library tests `'Retry' in state`: a field is set only when the state has it.
  if (rest.Retry) rewritten.Retry = rest.Retry.map((retrier) => ({ ...retrier, ErrorEquals: withHeartbeatTimeout(retrier.ErrorEquals) }));
  const catchers = rest.Catch as { ErrorEquals: string[] }[] | undefined;
  if (catchers) rewritten.Catch = catchers.map((catcher) => ({ ...catcher, ErrorEquals: withHeartbeatTimeout(catcher.ErrorEquals) }));
  return rewritten;
}

function withHeartbeatTimeout(errors: string[]): string[] {
  return errors.includes('States.Timeout') && !errors.includes('States.HeartbeatTimeout') ? [...errors, 'States.HeartbeatTimeout'] : errors;
}

/**
 * `$$.Task` is read only in a callback task's Parameters. The local runtime hands out a task's token when
 * its Parameters read it, just before the task starts (local/step-functions/task-tokens.ts), so a read
 * anywhere else (another state, a ResultSelector) would be handed a token no task waits on. AWS has no
 * `$$.Task` outside a callback task either; it fails such a read at run time, this refuses it at load.
 */
function assertTaskTokenUse(document: AslDefinition): void {
  for (const [name, state] of Object.entries(document.States)) {
    const { Parameters, Iterator, ItemProcessor, Branches, ...rest } = state;
    const callback = typeof state.Resource === 'string' && LAMBDA_CALLBACK_RESOURCE.test(state.Resource);
    if (JSON.stringify(rest).includes(TASK_CONTEXT) || (!callback && JSON.stringify(Parameters ?? null).includes(TASK_CONTEXT))) {
      throw new Error(`State '${name}' reads ${TASK_CONTEXT} outside a waitForTaskToken task's Parameters`);
    }
    for (const nested of [Iterator, ItemProcessor, ...(Branches ?? [])]) if (nested) assertTaskTokenUse(nested);
  }
}

/**
 * Whether Parameters pass the token on: a path field (`name.$`) whose path or intrinsic reads
 * `$$.Task.Token`. The same text in a plain field is a string like any other, and hands no token to anyone.
 */
function taskTokenReferences(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(taskTokenReferences);
  if (!value || typeof value !== 'object') return false;
  return Object.entries(value).some(([key, field]) =>
    key.endsWith('.$') && typeof field === 'string' ? field.includes(TASK_TOKEN) : taskTokenReferences(field),
  );
}
