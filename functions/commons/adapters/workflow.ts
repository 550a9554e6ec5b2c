import { ExecutionAlreadyExists, StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';

/** What every execution of the generation workflow starts from. */
export interface WorkflowInput {
  taskId: string;
}

export interface Workflow {
  /** Starts the task's execution; starting one that exists already is not an error. */
  start(input: WorkflowInput): Promise<void>;
}

export class StepFunctionsWorkflow implements Workflow {
  constructor(
    private readonly client: SFNClient,
    private readonly stateMachineArn: string,
  ) {}

  async start(input: WorkflowInput): Promise<void> {
    try {
      // Named after the task: Step Functions refuses a second execution of that name, so a retried
      // start can never run the same task twice.
      await this.client.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: input.taskId,
          input: JSON.stringify(input),
        }),
      );
    } catch (error) {
      if (!(error instanceof ExecutionAlreadyExists)) throw error;
    }
  }
}
