/**
 * Every handler is wrapped once: each invocation starts with the logger holding only this invocation's
 * Lambda context (and the task it serves as `correlation_id`), and ends with its metrics published, also
 * when it throws.
 */
import type { Context } from 'aws-lambda';
import { logger } from '../log.ts';
import { publishMetrics } from './metrics.ts';

export interface ObservedHandlerOptions<E> {
  /** The task the invocation serves, when the event names one: every log line then carries it. */
  readonly correlationId?: (event: E) => string | undefined;
}

export function observedHandler<E, R, C extends Partial<Context> = Context>(
  handler: (event: E, context: C) => Promise<R>,
  options: ObservedHandlerOptions<E> = {},
): (event: E, context: C) => Promise<R> {
  return async (event, context) => {
    logger.resetKeys(); // the previous invocation's task and request
    if (context?.awsRequestId) logger.addContext(context as Context);
    const taskId = options.correlationId?.(event);
    if (taskId) correlate(taskId);
    try {
      return await handler(event, context);
    } finally {
      publishMetrics();
    }
  };
}

/** From here to the end of the invocation, every log line carries this task id as its `correlation_id`. */
export function correlate(taskId: string): void {
  logger.setCorrelationId(taskId);
}
