/**
 * An execution as the Step Functions API shows it and as the state file keeps it: the public shapes, the
 * service errors, the names and ARNs, and StartExecution's idempotency.
 */
export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

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

export const EXECUTION_NAME = /^[0-9A-Za-z_-]{1,80}$/;
export const STATE_MACHINE_ARN = /^arn:([^:]+):states:([^:]+):([^:]+):stateMachine:([^:]+)$/;
export const EXECUTION_ARN = /^arn:[^:]+:states:[^:]+:[^:]+:execution:[^:]+:[^:]+$/;
export const STATUSES: readonly ExecutionStatus[] = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'];

/** The persisted shape; dates are ISO strings so the state file is plain JSON. */
export interface ExecutionRecord {
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

/** How an execution ended, as its record says it. */
export type Outcome = Pick<ExecutionRecord, 'status' | 'output' | 'error' | 'cause'>;

export function assertStateMachineArn(arn: string, expected: string): void {
  if (typeof arn !== 'string' || !STATE_MACHINE_ARN.test(arn)) {
    throw new StepFunctionsError('InvalidArn', `Invalid Arn: '${String(arn)}'`);
  }
  if (arn !== expected) throw new StepFunctionsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
}

export function assertJson(text: string): void {
  try {
    JSON.parse(text);
  } catch (error) {
    throw new StepFunctionsError('InvalidExecutionInput', `Invalid State Machine Execution Input: '${(error as Error).message}'`);
  }
}

/** AWS: same name + same input while RUNNING returns the original execution; anything else is a conflict. */
export function idempotentStart(existing: ExecutionRecord, inputText: string): { executionArn: string; startDate: Date } {
  if (existing.status === 'RUNNING' && existing.input === inputText) {
    return { executionArn: existing.executionArn, startDate: new Date(existing.startDate) };
  }
  throw new StepFunctionsError('ExecutionAlreadyExists', `Execution Already Exists: '${existing.executionArn}'`);
}

export function describeRecord(record: ExecutionRecord): ExecutionDescription {
  return withoutUndefined({
    ...record,
    startDate: new Date(record.startDate),
    stopDate: record.stopDate === undefined ? undefined : new Date(record.stopDate),
  }) as ExecutionDescription;
}

export function listItem(record: ExecutionRecord): ExecutionListItem {
  const { executionArn, stateMachineArn, name, status, startDate, stopDate } = describeRecord(record);
  return withoutUndefined({ executionArn, stateMachineArn, name, status, startDate, stopDate }) as ExecutionListItem;
}

export function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

export function executionContext(record: ExecutionRecord, stateMachineName: string) {
  return {
    Execution: { Id: record.executionArn, Name: record.name, StartTime: record.startDate },
    StateMachine: { Id: record.stateMachineArn, Name: stateMachineName },
  };
}
