/**
 * What AWS enforces that the local emulators do not (issue 10): the synthesized template must respect it.
 * - A Wait state waits whole seconds: the poll interval is a whole number of seconds, 1 to 3600.
 * - Retry what AWS says to retry: the invoke's own failures, a poll whose fate is unknown, throttling of the
 *   gateway's AWS services (TransientAwsError), and Lambda throttling on a schedule measured in minutes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/app.ts';
import type { GatewayStack } from '../../infra/gateway-stack.ts';
import { TransientAwsError, TransientDownloadError, TransientUpstreamError } from '../../functions/commons/errors.ts';

type Json = any;

/** The template is all these checks need: skip bundling the functions. */
const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function build(context: Record<string, unknown> = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'gateway-aws-limits-'));
  tempDirs.push(outdir);
  const { stack } = buildApp({ outdir, context: { ...NO_BUNDLING, ...context }, nag: false });
  return { stack, template: Template.fromStack(stack) };
}

describe('pollIntervalSeconds: whole seconds, as a Wait state waits', () => {
  it.each(['1.5', '0.5', '0', '3601'])('%s fails the synth, naming the setting', (value) => {
    expect(() => build({ pollIntervalSeconds: value })).toThrow(/pollIntervalSeconds.*whole number of seconds from 1 to 3600/);
  });

  it('a whole number reaches the poll function', () => {
    const { stack, template } = build({ pollIntervalSeconds: '7' });
    const poll = template.toJSON().Resources[stack.getLogicalId(stack.workflow.pollFunction.node.defaultChild as never)];
    expect(poll.Properties.Environment.Variables.POLL_INTERVAL_SECONDS).toBe('7');
  });
});

/** A CloudFormation value as a string: `Fn::Join` joined, any other token as a placeholder. */
function render(value: Json): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && 'Fn::Join' in value) {
    const [separator, parts] = value['Fn::Join'] as [string, Json[]];
    return parts.map(render).join(separator);
  }
  return '<token>';
}

/** Worst-case seconds one retrier waits in all: the sum of its capped, un-jittered delays. */
function retryDelaySeconds(retrier: Json): number {
  let total = 0;
  for (let attempt = 0; attempt < (retrier.MaxAttempts ?? 3); attempt++) {
    total += Math.min((retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** attempt, retrier.MaxDelaySeconds ?? Infinity);
  }
  return total;
}

describe('Retry blocks', () => {
  let stack: GatewayStack;
  let definition: Json;
  const retriers = (state: string): Json[] => definition.States[state].Retry ?? [];
  const retried = (state: string): string[] => retriers(state).flatMap((r) => r.ErrorEquals);
  const retrierOf = (state: string, error: string): Json => retriers(state).find((r) => r.ErrorEquals.includes(error));
  const functionTimeout = (fn: 'copyFunction' | 'pollFunction') =>
    stack.resolve((stack.workflow[fn].node.defaultChild as Json).timeout) as number;

  beforeAll(() => {
    let template: Template;
    ({ stack, template } = build());
    const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    definition = JSON.parse(render(machines[0]!.Properties.DefinitionString));
  });

  it('Poll retries the gateway’s own transient errors, by the classes’ names, with capped backoff and full jitter', () => {
    const retrier = retrierOf('Poll', TransientUpstreamError.name);
    expect(retrier.ErrorEquals).toEqual([TransientUpstreamError.name, TransientAwsError.name]);
    expect(retrier).toMatchObject({ BackoffRate: 2, JitterStrategy: 'FULL', MaxDelaySeconds: expect.any(Number) });
  });

  it('Copy retries a cut download and a throttled AWS service, from scratch, a bounded number of times', () => {
    const retrier = retrierOf('Copy', TransientDownloadError.name);
    expect(retrier.ErrorEquals).toEqual([TransientDownloadError.name, TransientAwsError.name]);
    expect(retrier).toMatchObject({ MaxAttempts: 3, JitterStrategy: 'FULL' });
  });

  it.each(['Poll', 'Copy'])('%s retries the invoke’s own failures (AWS’s list)', (state) => {
    expect(retried(state)).toEqual(
      expect.arrayContaining(['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException']),
    );
  });

  it('Poll, safe to repeat, also retries an invocation whose fate is unknown: its own timeout, a client timeout, a crash', () => {
    expect(retried('Poll')).toEqual(expect.arrayContaining(['Sandbox.Timedout', 'Lambda.ClientExecutionTimeoutException', 'Lambda.Unknown']));
  });

  it('Copy does not retry its own timeout: it budgets its downloads from the time it has left instead', () => {
    expect(retried('Copy')).not.toContain('Sandbox.Timedout');
  });

  it.each(['Poll', 'Copy', 'Record failure'])('%s waits out Lambda throttling on a schedule of minutes, in a retrier of its own', (state) => {
    const retrier = retrierOf(state, 'Lambda.TooManyRequestsException');
    expect(retrier).toEqual({
      ErrorEquals: ['Lambda.TooManyRequestsException'],
      IntervalSeconds: 60,
      BackoffRate: 2,
      MaxDelaySeconds: 600,
      MaxAttempts: 6,
      JitterStrategy: 'FULL',
    });
  });

  it('"Record failure" meets throttling before its catch-all retrier (the first match wins; States.ALL must be last)', () => {
    const names = retriers('Record failure').map((r) => r.ErrorEquals.join());
    expect(names).toEqual(['Lambda.TooManyRequestsException', 'States.ALL']);
  });

  it.each(['Poll', 'Copy', 'Record failure'])('%s names every error in one retrier at most (a second would never run)', (state) => {
    const names = retried(state);
    expect(new Set(names).size).toBe(names.length);
  });

  it('the execution timeout leaves room for a Copy that starts at the deadline, with its retries and a throttled stretch', () => {
    const copy = retrierOf('Copy', TransientDownloadError.name);
    const throttled = retrierOf('Copy', 'Lambda.TooManyRequestsException');
    const worst = (copy.MaxAttempts + 1) * functionTimeout('copyFunction') + retryDelaySeconds(copy) + retryDelaySeconds(throttled);
    expect(definition.TimeoutSeconds - 30 * 60).toBeGreaterThanOrEqual(worst);
  });
});
