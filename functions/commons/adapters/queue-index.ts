/**
 * The one sparse index behind the queues, `byQueue` (partition `queueKey`, sort `queueOrder`, keys only),
 * which two kinds of items share:
 *
 *   a queued task      queueKey = QUEUE#<owner>   queueOrder = its ticket, zero-padded
 *   an owner waiting   queueKey = WAITING         queueOrder = the owner
 *
 * So each owner's queue is a partition of its own, in ticket order (no partition holds every waiting
 * task), and the owners with tasks waiting are one partition whose size is the number of tenants. One
 * index rather than two, because DynamoDB (and so CloudFormation) adds one index per table update: a
 * deployed gateway gains this one in a single `cdk deploy`.
 */
export const QUEUE_INDEX = 'byQueue';

/** The partition of an owner's queue. */
export const ownerQueueKey = (owner: string): string => `QUEUE#${owner}`;

/** The partition of the owners that have tasks waiting. */
export const WAITING_OWNERS = 'WAITING';
