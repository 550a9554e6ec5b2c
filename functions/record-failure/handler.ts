/**
 * Record-failure Lambda: the target of every Catch in the workflow, so no error can end an execution
 * without the task saying why. A task that is already terminal is left as it is.
 */
import { dynamo } from '../commons/clients/dynamodb.ts';
import { settings } from '../commons/config.ts';
import { taskServices } from '../commons/composition-root.ts';
import { log } from '../commons/log.ts';
import { withGatewayErrors } from '../commons/errors.ts';
import { failureFromError, type CaughtError } from './failure-from-error.ts';

const { tasks } = taskServices(dynamo, settings.tableName());

export interface RecordFailureInput {
  taskId: string;
  error?: CaughtError;
}

export const handler = withGatewayErrors(async (input: RecordFailureInput): Promise<{ taskId: string; status: string }> => {
  const failure = failureFromError(input.error);
  const { task, changed } = await tasks.transition(input.taskId, { to: 'failed', failure });
  log({ level: 'warn', msg: 'task failed', taskId: input.taskId, failureCode: failure.code, error: input.error?.Error, changed });
  return { taskId: input.taskId, status: task.status };
});
