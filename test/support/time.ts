/**
 * How tests scale the gateway's time. At 1/100, the deployed 30-minute deadline of a generation would be 18 s
 * of real time, while the functions and emulators work at real speed: a busy machine could fail a healthy
 * task with deadline_exceeded. Tests that are not about the deadline give a generation ten real minutes.
 */
export const TEST_TIME_SCALE = 0.01;
export const ROOMY_DEADLINE_SECONDS = Math.ceil(600 / TEST_TIME_SCALE);
