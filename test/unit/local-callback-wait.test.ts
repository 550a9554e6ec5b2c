import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CallbackWait } from '../../local/step-functions/callback-wait.ts';
import { TimeScale } from '../../local/time-scale.ts';

/** The wait's clocks run on Date.now and setTimeout, both faked here: the test moves time itself. */
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
});
afterEach(() => {
  vi.useRealTimers();
});

function outcome(wait: CallbackWait): { settled?: 'succeeded' | string; output?: unknown } {
  const seen: { settled?: string; output?: unknown } = {};
  wait.result.then(
    (output) => Object.assign(seen, { settled: 'succeeded', output }),
    (error: Error) => Object.assign(seen, { settled: error.name }),
  );
  return seen;
}

async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

const stopped = () => Object.assign(new Error('stopped'), { name: 'States.Runtime' });

describe('CallbackWait', () => {
  it('counts the invocation in real time and the rest of the wait on the time scale', async () => {
    const wait = new CallbackWait(new TimeScale(0.01), { timeoutSeconds: 60 }, new AbortController().signal, stopped);
    const seen = outcome(wait);
    await advance(2_000); // a 2 s invocation uses 2 of the 60 gateway seconds, whatever the scale
    expect(seen.settled).toBeUndefined();
    wait.invocationEnded();
    await advance(579); // 58 gateway seconds are 580 ms at 0.01
    expect(seen.settled).toBeUndefined();
    await advance(2);
    expect(seen.settled).toBe('States.Timeout');
  });

  it('times out during a slow invocation as AWS would, at the unscaled TimeoutSeconds', async () => {
    const wait = new CallbackWait(new TimeScale(0.01), { timeoutSeconds: 3 }, new AbortController().signal, stopped);
    const seen = outcome(wait);
    await advance(2_999);
    expect(seen.settled).toBeUndefined();
    await advance(2);
    expect(seen.settled).toBe('States.Timeout');
  });

  it('restarts the heartbeat clock on every heartbeat; the timeout holds regardless', async () => {
    const wait = new CallbackWait(new TimeScale(0.1), { timeoutSeconds: 100, heartbeatSeconds: 10 }, new AbortController().signal, stopped);
    const seen = outcome(wait);
    wait.invocationEnded();
    for (let beat = 0; beat < 9; beat++) {
      await advance(900); // 9 of every 10 heartbeat seconds
      wait.heartbeat();
    }
    expect(seen.settled).toBeUndefined();
    await advance(999); // 8.1 s + 9.99 s = 18.09 s of the 100 s; the last heartbeat was 9.99 s ago
    expect(seen.settled).toBeUndefined();
    await advance(2);
    expect(seen.settled).toBe('States.HeartbeatTimeout');
  });

  it('ends with the first report and ignores later ones and its timers', async () => {
    const wait = new CallbackWait(new TimeScale(1), { timeoutSeconds: 5 }, new AbortController().signal, stopped);
    const seen = outcome(wait);
    wait.succeed({ done: true });
    wait.fail('Late', 'too late');
    await advance(10_000);
    expect(seen).toEqual({ settled: 'succeeded', output: { done: true } });
  });

  it('ends when its execution ends, and never without a timeout unless told', async () => {
    const controller = new AbortController();
    const wait = new CallbackWait(new TimeScale(1), {}, controller.signal, stopped);
    const seen = outcome(wait);
    wait.invocationEnded();
    await advance(365 * 24 * 3600 * 1000);
    expect(seen.settled).toBeUndefined();
    controller.abort();
    await advance(0);
    expect(seen.settled).toBe('States.Runtime');
  });
});
