/**
 * What AWS enforces that the local emulators do not (issue 10): the synthesized template must respect it.
 * - A Wait state waits whole seconds: the poll interval is a whole number of seconds, 1 to 3600.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/app.ts';

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
