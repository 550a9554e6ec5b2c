/**
 * The AWS JSON 1.0 protocol of Step Functions, as far as the functions' unchanged `SFNClient` calls go:
 * operations by X-Amz-Target, JSON bodies, epoch-second timestamps, errors as `__type`.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson as sendJsonAs } from '../loopback-http.ts';
import type { LocalStepFunctions } from './executions.ts';
import { STATUSES, StepFunctionsError, assertStateMachineArn, type ExecutionDescription, type ExecutionListItem, type ExecutionStatus } from './records.ts';

/**
 * A node:http request handler speaking the AWS JSON 1.0 protocol so that `new SFNClient({ endpoint })` works
 * unchanged, for one or more state machines: a request goes to the one its state machine or execution ARN
 * names (an ARN that names none goes to the first, which refuses it as Step Functions would).
 */
export function stepFunctionsHttpHandler(
  machines: LocalStepFunctions | readonly LocalStepFunctions[],
): (req: IncomingMessage, res: ServerResponse, body: Buffer) => Promise<void> {
  const all = Array.isArray(machines) ? machines : [machines as LocalStepFunctions];
  return async (req, res, body) => {
    try {
      const operation = operationFor(req.headers['x-amz-target']);
      const request = parseRequestBody(body);
      const sfn = machineFor(all, request);
      const result = operation(sfn, request);
      // A caller that was told "started" must find the execution again after a crash of this process.
      await sfn.persisted();
      sendJson(res, 200, result);
    } catch (error) {
      sendError(res, error);
    }
  };
}

type Operation = (sfn: LocalStepFunctions, request: Record<string, unknown>) => unknown;

/** The machine a request names by `stateMachineArn`, or by the machine part of `executionArn`. */
function machineFor(machines: readonly LocalStepFunctions[], request: Record<string, unknown>): LocalStepFunctions {
  const executionArn = typeof request.executionArn === 'string' ? request.executionArn : undefined;
  const named =
    typeof request.stateMachineArn === 'string'
      ? request.stateMachineArn
      : executionArn?.replace(/:execution:([^:]+):[^:]+$/, ':stateMachine:$1');
  return machines.find((machine) => machine.stateMachineArn === named) ?? machines[0]!;
}

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
  // Each answers 200 with an empty object, as AWS does.
  SendTaskSuccess(sfn, request) {
    sfn.sendTaskSuccess(request.taskToken, request.output);
    return {};
  },
  SendTaskFailure(sfn, request) {
    sfn.sendTaskFailure(request.taskToken, request.error, request.cause);
    return {};
  },
  SendTaskHeartbeat(sfn, request) {
    sfn.sendTaskHeartbeat(request.taskToken);
    return {};
  },
};

function operationFor(target: string | string[] | undefined): Operation {
  const [service, name] = typeof target === 'string' ? target.split('.') : [];
  const operation = service === 'AWSStepFunctions' && name && Object.hasOwn(OPERATIONS, name) ? OPERATIONS[name] : undefined;
  if (!operation) {
    throw new StepFunctionsError('UnknownOperationException', `Operation ${String(target)} is not supported by the local Step Functions`);
  }
  return operation;
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
  sendJsonAs(res, statusCode, body, { 'x-amzn-requestid': randomUUID() }, 'application/x-amz-json-1.0');
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

