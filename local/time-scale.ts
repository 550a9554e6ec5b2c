/**
 * LOCAL_TIME_SCALE: how fast the gateway's time runs on this machine, and every duration of the local
 * runtime that follows it. At 0.01, 10 s of gateway time (a Wait, a retry interval, a deadline, a simulated
 * generation's phase) last 100 ms, and a limit of N a gateway minute admits N / 0.01 a real minute.
 *
 * What stays real time, and why: a function's own timeout (local/lambda-host.ts: real code runs at real
 * speed), a Wait until a Timestamp (an absolute instant), the simulated upstream's callback retry pause
 * (Luma's own, not the gateway's), the functions' leases (they run in the functions, at real speed), and
 * the part of a callback task's timeout its own Lambda invocation uses (local/step-functions/callback-wait.ts).
 */
export const TIME_SCALE_VARIABLE = 'LOCAL_TIME_SCALE';

/** Node timers overflow above 2^31-1 ms (about 24.8 days) and then fire at once: longer delays are chunked or capped. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export class TimeScale {
  /**
   * @param factor gateway time × factor = real time; 0 makes every scaled wait instant.
   * @param what names the setting in the error a bad factor throws.
   */
  constructor(
    readonly factor: number,
    what = 'timeScale',
  ) {
    if (!Number.isFinite(factor) || factor < 0) throw new Error(`${what} must be a non-negative number, not ${factor}.`);
  }

  /** The real milliseconds that `seconds` of gateway time last. */
  secondsAsMs(seconds: number): number {
    return scaledMs(seconds, this.factor);
  }

  /** The real milliseconds that `ms` milliseconds of gateway time last. */
  ms(ms: number): number {
    return ms * this.factor;
  }

  /** The real seconds that `seconds` of gateway time last: for the settings the functions read in seconds. */
  seconds(seconds: number): number {
    return seconds * this.factor;
  }

  /** A count allowed per gateway minute, as a count per real minute: it grows as time runs faster. */
  perMinute(count: number): number {
    return Math.ceil(count / this.factor);
  }

  /** The gateway seconds that `realSeconds` of real time stand for. */
  gatewaySeconds(realSeconds: number): number {
    return realSeconds / this.factor;
  }
}

/**
 * The real milliseconds of `seconds` of gateway time at `factor`. A plain function for the simulated
 * upstream's timelines, which compute it for every generation on every request.
 */
export function scaledMs(seconds: number, factor: number): number {
  return seconds * factor * 1000;
}
