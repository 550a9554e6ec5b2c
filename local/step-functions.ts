/**
 * Local Step Functions: runs the synthesized state machine in-process with
 * aws-local-stepfunctions, and speaks enough of the AWS JSON 1.0 protocol that the
 * Lambda handlers' unchanged `SFNClient` calls work against it. Executions are held to AWS's limits
 * (local/aws-limits.ts), so a definition or a function that would break one in AWS breaks it here:
 * a Wait's seconds must be a whole number, state input and output at most 256 KiB, and the history at
 * most 25,000 events. Callback tasks (`lambda:invoke.waitForTaskToken`) wait for SendTaskSuccess,
 * SendTaskFailure or their timeouts, with AWS's token errors (InvalidToken, TaskTimedOut).
 *
 * The parts live in ./step-functions/: the executions, their records, the tasks (task-runner.ts; their
 * errors and waits in tasks.ts), the callback tasks' waits and tokens (callback-wait.ts, task-tokens.ts),
 * the definition's rewriting, the state file and the JSON 1.0 wire protocol. Everything public is exported here.
 */
export { LocalStepFunctions, type LocalStepFunctionsOptions } from './step-functions/executions.ts';
export {
  StepFunctionsError,
  type ExecutionDescription,
  type ExecutionListItem,
  type ExecutionStatus,
  type StartExecutionInput,
} from './step-functions/records.ts';
export { stepFunctionsHttpHandler } from './step-functions/wire-protocol.ts';
