/**
 * The local runtime's task tokens (local/step-functions/task-tokens.ts): what a report of a token answers
 * once its task has closed, and that a long run does not keep every token it ever closed.
 */
import { describe, expect, it } from 'vitest';
import { MAX_CLOSED_TOKENS, TaskTokens } from '../../local/step-functions/task-tokens.ts';

const receiver = { succeed: () => {}, fail: () => {}, heartbeat: () => {} };

describe('TaskTokens', () => {
  it('answers TaskTimedOut for a closed token, and forgets the oldest closed ones beyond MAX_CLOSED_TOKENS (InvalidToken)', () => {
    const tokens = new TaskTokens();
    for (let i = 0; i <= MAX_CLOSED_TOKENS; i++) tokens.open(`token-${i}`, receiver)();
    expect(() => tokens.sendTaskHeartbeat(`token-${MAX_CLOSED_TOKENS}`)).toThrow(expect.objectContaining({ name: 'TaskTimedOut' }));
    expect(() => tokens.sendTaskHeartbeat('token-1')).toThrow(expect.objectContaining({ name: 'TaskTimedOut' }));
    expect(() => tokens.sendTaskHeartbeat('token-0')).toThrow(expect.objectContaining({ name: 'InvalidToken' }));
  });

  it('reports to the open token’s task, and never twice once it has closed', () => {
    const tokens = new TaskTokens();
    const outputs: unknown[] = [];
    const close = tokens.open('live', { ...receiver, succeed: (output) => outputs.push(output) });
    tokens.sendTaskSuccess('live', '{"done":true}');
    close();
    expect(() => tokens.sendTaskSuccess('live', '{}')).toThrow(expect.objectContaining({ name: 'TaskTimedOut' }));
    expect(outputs).toEqual([{ done: true }]);
  });
});
