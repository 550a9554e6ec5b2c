/**
 * The limits Step Functions applies to a running execution that can only be seen in its events: the
 * 25,000-event history and the 256 KiB state input and output (local/aws-limits.ts). aws-local-stepfunctions
 * reports fewer, coarser events than AWS writes to a history, so each of its events is counted as the AWS
 * events it stands for, rounding up where AWS's accounting is unclear:
 *
 * | library event | Lambda Task                                            | Lambda callback Task (`.waitForTaskToken`)           | Map, Parallel                    | other states (Wait, Pass, Choice…) |
 * |---------------|--------------------------------------------------------|------------------------------------------------------|----------------------------------|------------------------------------|
 * | StateEntered  | 3: TaskStateEntered, TaskScheduled, TaskStarted        | 4: TaskStateEntered, TaskScheduled, TaskStarted, TaskSubmitted | 2: …StateEntered, …StateStarted | 1: …StateEntered |
 * | StateExited   | 2: TaskSucceeded, TaskStateExited (also after a Catch) | 2: TaskSucceeded, TaskStateExited (also after a Catch) | 2: …StateSucceeded, …StateExited | 1: …StateExited                    |
 * | StateFailed   | 1: TaskFailed                                          | 1: TaskFailed or TaskTimedOut                        | 1: …StateFailed                  | 1                                  |
 * | StateRetried  | 2: TaskScheduled, TaskStarted                          | 3: TaskScheduled, TaskStarted, TaskSubmitted         | 1                                | 1                                  |
 * | StateCaught   | 0 (the StateExited that follows counts)                | 0                                                    | 0                                | 0                                  |
 *
 * Execution events and Map iteration or Parallel branch events count 1 each (AWS writes no branch events
 * for a Parallel state: counting them errs on the side of more). A Wait state, which the local runtime
 * runs as a Task, counts as a Wait.
 */
import type { StateMachine as LibStateMachine } from 'aws-local-stepfunctions';
import { STATES_HISTORY_EVENTS, STATES_PAYLOAD_BYTES, awsLimitErrors, jsonBytes, type AwsLimitError } from './aws-limits.ts';

type LibRun = ReturnType<LibStateMachine['run']>;
export type LibEvent = LibRun['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

/** How a state is counted: a Task that calls a Lambda function, one that also waits for its token, a Map or Parallel, or any other. */
export type CountedKind = 'lambda' | 'callback' | 'container' | 'plain';

export class ExecutionLimits {
  #events = 0;
  #broken: AwsLimitError | undefined;

  constructor(
    private readonly kindOf: (stateName: string, stateType: string) => CountedKind,
    private readonly historyLimit = STATES_HISTORY_EVENTS,
  ) {}

  /** The history events counted so far. */
  get historyEvents(): number {
    return this.#events;
  }

  /** The first limit the execution broke, if any. */
  get broken(): AwsLimitError | undefined {
    return this.#broken;
  }

  /** Counts one library event; returns the limit it breaks, the first time one is broken. */
  observe(event: LibEvent): AwsLimitError | undefined {
    if (this.#broken) return undefined;
    this.#broken = this.check(event);
    return this.#broken;
  }

  private check(event: LibEvent): AwsLimitError | undefined {
    this.#events += this.historyEventsOf(event);
    // Event 25,000 may only be ExecutionSucceeded; anything else in its place fails the execution.
    if (event.type !== 'ExecutionSucceeded' && this.#events >= this.historyLimit) return awsLimitErrors.statesHistoryFull();
    if (event.type === 'StateEntered') {
      const bytes = jsonBytes(event.state.input);
      if (bytes > STATES_PAYLOAD_BYTES) return awsLimitErrors.statesInputTooLarge(event.state.name, bytes);
    }
    if (event.type === 'StateExited') {
      const bytes = jsonBytes(event.state.output);
      if (bytes > STATES_PAYLOAD_BYTES) return awsLimitErrors.statesOutputTooLarge(event.state.name, bytes);
    }
    return undefined;
  }

  private historyEventsOf(event: LibEvent): number {
    if (!('state' in event)) return 1; // execution, Map iteration and Parallel branch events
    const kind = this.kindOf(event.state.name, event.state.type);
    switch (event.type) {
      case 'StateEntered':
        return { lambda: 3, callback: 4, container: 2, plain: 1 }[kind];
      case 'StateExited':
        return { lambda: 2, callback: 2, container: 2, plain: 1 }[kind];
      case 'StateFailed':
        return 1;
      case 'StateRetried':
        return { lambda: 2, callback: 3, container: 1, plain: 1 }[kind];
      case 'StateCaught':
        return 0;
    }
  }
}
