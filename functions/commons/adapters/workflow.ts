import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  StartExecutionCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';

/** What every execution of the generation workflow starts from. */
export interface WorkflowInput {
  taskId: string;
}

export type RunStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'PENDING_REDRIVE';

export interface Workflow {
  /** Starts a run of the task's workflow; starting one that exists already is not an error. */
  start(input: WorkflowInput, run?: number): Promise<void>;
  /** The status of one run, or undefined when it was never started. */
  status(taskId: string, run: number): Promise<RunStatus | undefined>;
}

/**
 * Runs are named after the task (`<task id>`, then `<task id>-r2`, `-r3` when the reconciler restarts
 * one): Step Functions refuses a second execution of a name, so a retried start can never run the same
 * task twice, and a task's runs can be found without storing anything.
 */
export function runName(taskId: string, run: number): string {
  return run <= 1 ? taskId : `${taskId}-r${run}`;
}

export class StepFunctionsWorkflow implements Workflow {
  constructor(
    private readonly client: SFNClient,
    private readonly stateMachineArn: string,
  ) {}

  async start(input: WorkflowInput, run = 1): Promise<void> {
    try {
      await this.client.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: runName(input.taskId, run),
          input: JSON.stringify(input),
        }),
      );
    } catch (error) {
      if (!(error instanceof ExecutionAlreadyExists)) throw error;
    }
  }

  async status(taskId: string, run: number): Promise<RunStatus | undefined> {
    // arn:…:stateMachine:<name> → arn:…:execution:<name>:<run name>
    const executionArn = `${this.stateMachineArn.replace(':stateMachine:', ':execution:')}:${runName(taskId, run)}`;
    try {
      const { status } = await this.client.send(new DescribeExecutionCommand({ executionArn }));
      return status as RunStatus;
    } catch (error) {
      if (error instanceof ExecutionDoesNotExist) return undefined;
      throw error;
    }
  }
}
