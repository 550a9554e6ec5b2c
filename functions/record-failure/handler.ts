/**
 * Record-failure Lambda: the target of every Catch in the workflow, so no error can end an execution
 * without the task saying why. A task that is already terminal is left as it is.
 */
import { dynamo } from '../commons/clients/dynamodb.ts';
import { settings } from '../commons/config.ts';
import { taskServices } from '../commons/composition-root.ts';
import { log } from '../commons/log.ts';
import { observedHandler } from '../commons/observability/observed-handler.ts';
import { recordMetric } from '../commons/observability/metrics.ts';
import { withGatewayErrors } from '../commons/errors.ts';
import { failureFromError, type CaughtError } from './failure-from-error.ts';

const { tasks } = taskServices(dynamo, settings.tableName());

export interface RecordFailureInput {
  taskId: string;
  error?: CaughtError;
}

export const handler = observedHandler(
  withGatewayErrors(async (input: RecordFailureInput): Promise<{ taskId: string; status: string }> => {
    const failure = failureFromError(input.error);
    const { task, changed } = await tasks.transition(input.taskId, { to: 'failed', failure });
    log({ level: 'warn', msg: 'task failed', taskId: input.taskId, failureCode: failure.code, error: input.error?.Error, changed });
    // Its execution goes on to the Failed state: the dashboard tells these from the workflow's own faults.
    recordMetric('workflowFailed');
    return { taskId: input.taskId, status: task.status };
  }),
  { correlationId: (input) => input.taskId },
);
