/**
 * The generation workflow as a Step Functions state machine (ports/workflow.ts): one execution per run,
 * whose waits are callback tasks that a task token ends early (SendTaskSuccess).
 */
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  InvalidToken,
  SendTaskSuccessCommand,
  StartExecutionCommand,
  TaskDoesNotExist,
  TaskTimedOut,
  StopExecutionCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import type { RunStatus, Workflow, WorkflowInput, WorkflowTurn } from '../ports/workflow.ts';

/**
 * Runs are named after the task (`<task id>`, then `<task id>-r2`, `-r3` when the reconciler restarts
 * one): Step Functions refuses a second execution of a name, so a retried start can never run the same
 * task twice, and a task's runs can be found without storing anything.
 */
export function runName(taskId: string, run: number): string {
  return run <= 1 ? taskId : `${taskId}-r${run}`;
}

export class StepFunctionsWorkflow implements Workflow {
  /**
   * @param firstWaitSeconds the run's first wait, which its first turn (the submit) keeps when the poll
   * schedule agrees: the same for every run, so that a repeated start is the same start.
   */
  constructor(
    private readonly client: SFNClient,
    private readonly stateMachineArn: string,
    private readonly firstWaitSeconds: number,
  ) {}

  async start(input: WorkflowInput, run = 1): Promise<void> {
    try {
      await this.client.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: runName(input.taskId, run),
          input: JSON.stringify({ taskId: input.taskId, waitSeconds: this.firstWaitSeconds }),
        }),
      );
    } catch (error) {
      if (!(error instanceof ExecutionAlreadyExists)) throw error;
    }
  }

  async status(taskId: string, run: number): Promise<RunStatus | undefined> {
    try {
      const { status } = await this.client.send(new DescribeExecutionCommand({ executionArn: this.executionArn(taskId, run) }));
      return status as RunStatus;
    } catch (error) {
      if (error instanceof ExecutionDoesNotExist) return undefined;
      throw error;
    }
  }

  async wake(token: string, turn: WorkflowTurn): Promise<boolean> {
    try {
      await this.client.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(turn) }));
      return true;
    } catch (error) {
      if (error instanceof TaskTimedOut || error instanceof InvalidToken || error instanceof TaskDoesNotExist) return false;
      throw error;
    }
  }

  /**
   * Runs are numbered from 1 without gaps (the reconciler starts run n + 1 only after run n ended), so the
   * first number never started ends the search; at most one run is running at a time.
   */
  async stop(taskId: string, cause: string): Promise<void> {
    for (let run = 1; run <= MAX_RUNS_SEARCHED; run++) {
      const status = await this.status(taskId, run);
      if (status === undefined) return;
      if (status !== 'RUNNING') continue;
      try {
        await this.client.send(new StopExecutionCommand({ executionArn: this.executionArn(taskId, run), error: 'Cancelled', cause }));
      } catch (error) {
        if (!(error instanceof ExecutionDoesNotExist)) throw error;
      }
    }
  }

  /** arn:…:stateMachine:<name> → arn:…:execution:<name>:<run name> */
  private executionArn(taskId: string, run: number): string {
    return `${this.stateMachineArn.replace(':stateMachine:', ':execution:')}:${runName(taskId, run)}`;
  }
}

/** Far beyond the reconciler's restarts (reconcile.ts MAX_RUNS): a bound on the search, never reached. */
const MAX_RUNS_SEARCHED = 10;
