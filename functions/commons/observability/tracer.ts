/**
 * X-Ray through Powertools' Tracer, for the workflow's functions only (Poll and Copy): there the time goes
 * to the upstream, the downloads and the AWS calls, which a trace takes apart, and a cold start delays no
 * client. The Tracer loads the X-Ray SDK, which adds about 40 ms to a bundle's import (scripts/cold-import.ts);
 * the API function, whose cold start a client waits for, is traced by Lambda itself (active tracing) and by
 * API Gateway's stage instead: the request's segments, without subsegments per call.
 *
 * Outside Lambda (the local runtime, tests) the Tracer disables itself and every helper here just runs.
 * HTTP requests are not captured by the Tracer: it would add an `X-Amzn-Trace-Id` header to every request
 * the function makes, the upstream's and the asset hosts' included; the upstream's calls are traced as
 * subsegments by name instead (`traceCall`, given to the provider).
 */
import { Tracer } from '@aws-lambda-powertools/tracer';
import { DEFAULT_SERVICE_NAME } from './names.ts';
import { whenBuilt } from '../clients/lazy-client.ts';

export const tracer = new Tracer({ serviceName: process.env.POWERTOOLS_SERVICE_NAME || DEFAULT_SERVICE_NAME, captureHTTPsRequests: false });

/**
 * Wraps an AWS SDK v3 client so each of its calls is a subsegment (a no-op when tracing is off); a client
 * built on first use (clients/lazy-client.ts) is wrapped when it is built.
 */
export function traced<T extends object>(client: T): T {
  return whenBuilt(client, (built) => tracer.captureAWSv3Client(built));
}

/** Runs `call` in a subsegment named `name`, which records its error if it throws. */
export async function traceCall<T>(name: string, call: () => Promise<T>): Promise<T> {
  if (!tracer.isTracingEnabled()) return call();
  const parent = tracer.getSegment();
  if (!parent) return call();
  const subsegment = parent.addNewSubsegment(name);
  tracer.setSegment(subsegment);
  try {
    return await call();
  } catch (error) {
    subsegment.addError(error as Error);
    throw error;
  } finally {
    subsegment.close();
    tracer.setSegment(parent);
  }
}

/**
 * A handler whose invocation is a subsegment annotated with its task id (so the X-Ray console finds a task's
 * traces by `taskId`), its cold start and the service, as Powertools' own handler decorator does.
 */
export function tracedHandler<E extends { taskId?: string }, R, C>(handler: (event: E, context: C) => Promise<R>): (event: E, context: C) => Promise<R> {
  return (event, context) =>
    traceCall(`## ${process.env._HANDLER ?? 'handler'}`, async () => {
      tracer.annotateColdStart();
      tracer.addServiceNameAnnotation();
      if (event?.taskId) tracer.putAnnotation('taskId', event.taskId);
      return handler(event, context);
    });
}
