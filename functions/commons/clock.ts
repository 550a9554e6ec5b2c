/**
 * What tells the time. Whatever reads the time takes a clock, so that a test can hold it still or move it;
 * production code leaves it out and gets the system's, from here.
 */
export type Clock = () => Date;

export const systemClock: Clock = () => new Date();
