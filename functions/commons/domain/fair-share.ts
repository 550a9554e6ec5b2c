/**
 * Who gets a free upstream slot, as pure rules. Every owner (tenant) with tasks waiting has a queue of its
 * own, in arrival order (its tickets). When a slot frees, it goes to the owner with the fewest tasks
 * running upstream for its weight (running / weight), among the owners under their own cap of running
 * tasks; between owners with equal shares, to the one whose turn it is — served least recently — and then
 * to the oldest waiting task. So tenants take turns, a newcomer waits at most about one turnover of the
 * slots however long another tenant's queue is, each owner's own tasks stay in order, and an owner alone
 * may use every slot.
 *
 * Why turns before age between equal shares: with one slot (or whenever owners' shares are equal as a
 * slot frees) every owner runs nothing at that moment, and the oldest task would always be the batch's,
 * so a newcomer would wait behind the whole batch: first come, first served again.
 */

export interface Tenant {
  owner: string;
  /** Relative share: an owner of weight 2 runs twice as many tasks as an owner of weight 1 when both wait. */
  weight: number;
  /** At most this many of the owner's tasks run upstream at once; undefined: no cap (fair share governs). */
  maxRunning?: number;
  /** When a task of the owner was last given a slot (ISO-8601); undefined: never. */
  lastServedAt?: string;
}

/** The first task in an owner's queue. */
export interface QueueHead {
  id: string;
  /** The owner's ticket: the order within the owner's queue. */
  ticket: number;
  /** Arrival: orders heads of different owners, whose tickets are not comparable. */
  createdAt: string;
}

export interface Candidate {
  tenant: Tenant;
  /** The owner's tasks holding an upstream slot now. */
  running: number;
  head: QueueHead;
}

/** False once the owner runs as many tasks as its cap allows. */
export function mayRunMore(tenant: Tenant, running: number): boolean {
  return tenant.maxRunning === undefined || running < tenant.maxRunning;
}

/** Orders by running / weight, fewest first, without dividing (exact for any positive weights). */
export function compareShares(a: { tenant: Tenant; running: number }, b: { tenant: Tenant; running: number }): number {
  return a.running * b.tenant.weight - b.running * a.tenant.weight;
}

/** Whose turn it is: an owner never served first, then the one served longest ago. */
export function compareTurns(a: Tenant, b: Tenant): number {
  if (a.lastServedAt === b.lastServedAt) return 0;
  if (a.lastServedAt === undefined) return -1;
  if (b.lastServedAt === undefined) return 1;
  return a.lastServedAt < b.lastServedAt ? -1 : 1;
}

/** Oldest first; the id breaks ties between tasks created in the same millisecond. */
export function compareArrival(a: QueueHead, b: QueueHead): number {
  return a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * The candidate whose head is admitted next: the fewest running for its weight among those under their
 * cap; between equal shares, the owner whose turn it is, then the oldest head. Undefined when no candidate
 * may run more.
 */
export function chooseNext<C extends Candidate>(candidates: readonly C[]): C | undefined {
  let best: C | undefined;
  for (const candidate of candidates) {
    if (!mayRunMore(candidate.tenant, candidate.running)) continue;
    if (!best) {
      best = candidate;
      continue;
    }
    if (compareCandidates(candidate, best) < 0) best = candidate;
  }
  return best;
}

/** The order chooseNext applies: share, then turn, then arrival. */
export function compareCandidates(a: Candidate, b: Candidate): number {
  return compareShares(a, b) || compareTurns(a.tenant, b.tenant) || compareArrival(a.head, b.head);
}

/**
 * The owners that may run more, grouped by equal share, fewest first. Only the first group whose owners
 * have a head matters for `chooseNext`, so the dispatcher reads the heads of one group at a time.
 */
export function shareGroups<T extends { tenant: Tenant; running: number }>(owners: readonly T[]): T[][] {
  const eligible = owners.filter((owner) => mayRunMore(owner.tenant, owner.running)).sort(compareShares);
  const groups: T[][] = [];
  for (const owner of eligible) {
    const last = groups.at(-1);
    if (last && compareShares(last[0]!, owner) === 0) last.push(owner);
    else groups.push([owner]);
  }
  return groups;
}

/**
 * A queued task's place among its owner's own queued tasks (1 = next of them): its ticket less the
 * owner's tasks that have left the queue. Exact while the owner's tasks leave in ticket order, which the
 * dispatcher keeps (a task failed at its queue deadline is a head, so it leaves in order too); a task
 * that vanished between its ticket and its record can only make it too high, and never below 1. Never a
 * count of other owners' tasks: those are no business of this owner's.
 */
export function queuePosition(ticket: number, served: number): number {
  return Math.max(1, ticket - served);
}
