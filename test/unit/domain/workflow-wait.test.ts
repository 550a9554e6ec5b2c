import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_WORKFLOW_WAIT_SECONDS, workflowWaitSeconds } from '../../../functions/commons/domain/workflow-wait.ts';

describe('workflowWaitSeconds: what a Wait state’s SecondsPath may be given', () => {
  it.each([
    [1.5, 2],
    [0.001, 1],
    [10, 10],
    [59.0001, 60],
    [0, 1],
    [-3, 1],
    [Number.NaN, 1],
    [1e9, MAX_WORKFLOW_WAIT_SECONDS],
    [Number.POSITIVE_INFINITY, MAX_WORKFLOW_WAIT_SECONDS],
  ])('%d seconds → %d', (seconds, wait) => {
    expect(workflowWaitSeconds(seconds)).toBe(wait);
  });

  it('is always a whole number from 1 to the cap, and never shorter than asked (up to the cap)', () => {
    fc.assert(
      fc.property(fc.double(), (seconds) => {
        const wait = workflowWaitSeconds(seconds);
        expect(Number.isInteger(wait)).toBe(true);
        expect(wait).toBeGreaterThanOrEqual(1);
        expect(wait).toBeLessThanOrEqual(MAX_WORKFLOW_WAIT_SECONDS);
        if (seconds <= MAX_WORKFLOW_WAIT_SECONDS) expect(wait).toBeGreaterThanOrEqual(seconds);
      }),
    );
  });
});
