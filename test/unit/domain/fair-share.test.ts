/**
 * Fair share of the upstream slots (domain/fair-share.ts), pure: the choice itself, and a small simulation
 * of owners' queues, arrivals and slot turnover driven by fast-check, in which the dispatcher's rule is
 * applied at every free slot. Properties: every task is eventually served; at each admission the chosen
 * owner has the fewest running for its weight among the owners with tasks waiting (under their caps),
 * ties going to the owner served least recently, then to the oldest head; each owner's tasks are admitted
 * in ticket order; no slot stays free while an owner under its cap has a task waiting, so an owner alone
 * uses every slot; a newcomer gets the first slot that frees.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  chooseNext,
  compareArrival,
  compareShares,
  compareTurns,
  mayRunMore,
  queuePosition,
  shareGroups,
  type Candidate,
  type QueueHead,
  type Tenant,
} from '../../../functions/commons/domain/fair-share.ts';

const head = (id: string, ticket: number, createdAt: string): QueueHead => ({ id, ticket, createdAt });
const at = (second: number) => new Date(Date.UTC(2026, 10, 30, 12, 0, second)).toISOString();

describe('chooseNext', () => {
  const tenant = (owner: string, weight = 1, maxRunning?: number): Tenant => ({ owner, weight, maxRunning });

  it('gives the slot to the owner running the fewest, however long another owner’s queue has waited', () => {
    const big = { tenant: tenant('big'), running: 5, head: head('b1', 6, at(0)) };
    const small = { tenant: tenant('small'), running: 0, head: head('s1', 1, at(30)) };
    expect(chooseNext([big, small])).toBe(small);
  });

  it('between equal shares, gives it to the owner whose turn it is, then to the oldest head', () => {
    const a = { tenant: tenant('a'), running: 2, head: head('a9', 9, at(10)) };
    const b = { tenant: tenant('b'), running: 2, head: head('b1', 1, at(5)) };
    expect(chooseNext([a, b])).toBe(b); // neither served yet: the oldest head
    const served = (candidate: typeof a, second: number) => ({ ...candidate, tenant: { ...candidate.tenant, lastServedAt: at(second) } });
    expect(chooseNext([a, served(b, 20)])!.tenant.owner).toBe('a'); // b was served, a never
    expect(chooseNext([served(a, 21), served(b, 20)])!.tenant.owner).toBe('b'); // b's turn came longer ago
    expect(chooseNext([served(a, 20), served(b, 21)])!.tenant.owner).toBe('a');
  });

  it('with one slot, alternates between a batch and a newcomer instead of serving the batch first', () => {
    // Whenever the single slot frees, both run nothing: the older head alone would always be the batch's.
    const batch = { tenant: tenant('batch', 1, undefined), running: 0, head: head('b7', 7, at(0)) };
    const newcomer = { tenant: tenant('newcomer'), running: 0, head: head('n1', 1, at(30)) };
    expect(chooseNext([{ ...batch, tenant: { ...batch.tenant, lastServedAt: at(40) } }, newcomer])!.tenant.owner).toBe('newcomer');
  });

  it('compares running / weight: an owner of weight 2 runs two tasks for every one of an owner of weight 1', () => {
    const heavy = { tenant: tenant('heavy', 2), running: 3, head: head('h', 4, at(0)) };
    const light = { tenant: tenant('light', 1), running: 2, head: head('l', 3, at(1)) };
    const chosen = (running: number) => chooseNext([{ ...heavy, running }, light])!.tenant.owner;
    expect(chosen(3)).toBe('heavy'); // 3/2 < 2/1
    expect(chosen(4)).toBe('heavy'); // 4/2 = 2/1: the older head
    expect(chosen(5)).toBe('light'); // 5/2 > 2/1
  });

  it('skips an owner at its cap of running tasks, and chooses nobody when every owner is at its cap', () => {
    const capped = { tenant: tenant('capped', 1, 1), running: 1, head: head('c', 2, at(0)) };
    const other = { tenant: tenant('other'), running: 7, head: head('o', 8, at(1)) };
    expect(chooseNext([capped, other])).toBe(other);
    expect(chooseNext([capped])).toBeUndefined();
    expect(chooseNext([])).toBeUndefined();
  });
});

describe('queuePosition', () => {
  it('is the place among the owner’s own queued tasks while they leave in order, and never below 1', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 0, max: 500 }), (tickets, served) => {
        fc.pre(served < tickets);
        // Tickets 1..served have left, in order: those ahead of ticket t are served+1 .. t-1.
        for (let ticket = served + 1; ticket <= tickets; ticket++) expect(queuePosition(ticket, served)).toBe(ticket - served);
        expect(queuePosition(served, served)).toBe(1); // a stale read: clamped
      }),
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// The simulation
// ---------------------------------------------------------------------------------------------------

interface SimTask {
  id: string;
  owner: string;
  ticket: number;
  createdAt: string;
}

interface Admission {
  task: SimTask;
  /** Every owner with tasks waiting at that moment, its share and head, as the dispatcher saw them. */
  waiting: Candidate[];
}

type Event = { kind: 'arrive'; owner: number; count: number } | { kind: 'finish'; pick: number };

const tenantsArb = fc.array(
  fc.record({
    weight: fc.integer({ min: 1, max: 3 }),
    maxRunning: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
  }),
  { minLength: 1, maxLength: 4 },
);
const eventArb = fc.oneof(
  fc.record({ kind: fc.constant('arrive' as const), owner: fc.nat(3), count: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ kind: fc.constant('finish' as const), pick: fc.nat(20) }),
);

/**
 * Owners' queues and `slots` upstream slots. After every event the dispatcher fills free slots by the rule
 * (chooseNext, read one share group at a time as the real dispatcher reads heads); after the events, running
 * tasks finish one by one until nothing waits or runs.
 */
function simulate(tenantSpecs: { weight: number; maxRunning?: number }[], slots: number, events: Event[]) {
  const tenants: Tenant[] = tenantSpecs.map((spec, i) => ({ owner: `owner-${i}`, ...spec }));
  const queues = new Map<string, SimTask[]>(tenants.map((t) => [t.owner, []]));
  const tickets = new Map<string, number>();
  const running: SimTask[] = [];
  const admissions: Admission[] = [];
  const freeWhileEligible: string[] = [];
  const arrived: SimTask[] = [];
  let clock = 0;
  const lastServed = new Map<string, string>();

  const runningOf = (owner: string) => running.filter((task) => task.owner === owner).length;
  const dispatch = () => {
    while (running.length < slots) {
      const waiting: Candidate[] = tenants
        .filter((tenant) => queues.get(tenant.owner)!.length > 0)
        .map((tenant) => {
          const first = queues.get(tenant.owner)![0]!;
          return {
            tenant: { ...tenant, lastServedAt: lastServed.get(tenant.owner) },
            running: runningOf(tenant.owner),
            head: head(first.id, first.ticket, first.createdAt),
          };
        });
      // As the dispatcher does: the first group of equal share whose owners have heads.
      const lazy = shareGroups(waiting).map((group) => chooseNext(group)).find(Boolean);
      const chosen = chooseNext(waiting);
      expect(lazy?.tenant.owner).toBe(chosen?.tenant.owner);
      if (!chosen) break;
      const task = queues.get(chosen.tenant.owner)!.shift()!;
      running.push(task);
      admissions.push({ task, waiting });
      lastServed.set(task.owner, new Date(Date.UTC(2027, 0, 1) + admissions.length).toISOString());
    }
    const eligible = tenants.filter((t) => queues.get(t.owner)!.length > 0 && mayRunMore(t, runningOf(t.owner)));
    if (running.length < slots && eligible.length > 0) freeWhileEligible.push(`after t=${clock}: ${eligible.map((t) => t.owner)}`);
  };

  for (const event of events) {
    clock++;
    if (event.kind === 'arrive') {
      const tenant = tenants[event.owner % tenants.length]!;
      for (let i = 0; i < event.count; i++) {
        const ticket = (tickets.get(tenant.owner) ?? 0) + 1;
        tickets.set(tenant.owner, ticket);
        const task = { id: `${tenant.owner}#${ticket}`, owner: tenant.owner, ticket, createdAt: at(clock) };
        queues.get(tenant.owner)!.push(task);
        arrived.push(task);
      }
    } else if (running.length > 0) {
      running.splice(event.pick % running.length, 1);
    }
    dispatch();
  }
  // Turnover until everything is served: the longest-running task finishes first.
  for (let guard = 0; running.length > 0 && guard < 10_000; guard++) {
    clock++;
    running.shift();
    dispatch();
  }
  return { tenants, admissions, arrived, freeWhileEligible, queues, running };
}

describe('a simulation of queues and slot turnover', () => {
  const property = fc.record({
    tenants: tenantsArb,
    slots: fc.integer({ min: 1, max: 5 }),
    events: fc.array(eventArb, { maxLength: 40 }),
  });

  it('serves every task exactly once', () => {
    fc.assert(
      fc.property(property, ({ tenants, slots, events }) => {
        const { admissions, arrived, queues, running } = simulate(tenants, slots, events);
        expect(admissions.map((a) => a.task.id).sort()).toEqual(arrived.map((t) => t.id).sort());
        expect([...queues.values()].every((queue) => queue.length === 0)).toBe(true);
        expect(running).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('admits, each time, an owner with the fewest running for its weight among those waiting under their caps; ties by turn, then age', () => {
    fc.assert(
      fc.property(property, ({ tenants, slots, events }) => {
        for (const { task, waiting } of simulate(tenants, slots, events).admissions) {
          const chosen = waiting.find((candidate) => candidate.tenant.owner === task.owner)!;
          expect(mayRunMore(chosen.tenant, chosen.running)).toBe(true);
          expect(chosen.head.id).toBe(task.id);
          for (const other of waiting.filter((c) => c !== chosen && mayRunMore(c.tenant, c.running))) {
            const byShare = compareShares(chosen, other);
            expect(byShare).toBeLessThanOrEqual(0);
            if (byShare < 0) continue;
            const byTurn = compareTurns(chosen.tenant, other.tenant);
            expect(byTurn).toBeLessThanOrEqual(0);
            if (byTurn === 0) expect(compareArrival(chosen.head, other.head)).toBeLessThan(0);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('admits each owner’s tasks in ticket order', () => {
    fc.assert(
      fc.property(property, ({ tenants, slots, events }) => {
        const { admissions, tenants: named } = simulate(tenants, slots, events);
        for (const tenant of named) {
          const order = admissions.filter((a) => a.task.owner === tenant.owner).map((a) => a.task.ticket);
          expect(order).toEqual(order.map((_, i) => i + 1));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('never leaves a slot free while an owner under its cap has a task waiting', () => {
    fc.assert(
      fc.property(property, ({ tenants, slots, events }) => {
        expect(simulate(tenants, slots, events).freeWhileEligible).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('lets an owner alone use every slot', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 20 }), (slots, extra) => {
        const { admissions } = simulate([{ weight: 1 }], slots, [{ kind: 'arrive', owner: 0, count: slots + extra }]);
        // Before any slot turns over, the lone owner has been given all of them.
        expect(admissions.slice(0, slots).map((a) => a.task.ticket)).toEqual(Array.from({ length: slots }, (_, i) => i + 1));
        expect(admissions[slots - 1]!.waiting[0]!.running).toBe(slots - 1);
      }),
    );
  });

  it('serves a newcomer within one turnover of the slots, however long the queue of the owner holding them', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 3 }), (slots, backlog, sent) => {
        const events: Event[] = [
          { kind: 'arrive', owner: 0, count: slots + backlog },
          { kind: 'arrive', owner: 1, count: sent },
        ];
        const { admissions } = simulate([{ weight: 1 }, { weight: 1 }], slots, events);
        // Admissions after the newcomer arrived (the first `slots` went to the big owner before it came).
        const after = admissions.slice(slots);
        // The first free slot is the newcomer's: the big owner still runs the others, or (a single slot) has
        // just had its turn.
        expect(after.findIndex((a) => a.task.owner === 'owner-1')).toBe(0);
        // Then its tasks alternate with the big owner's, at worst: all of them within 2 × sent admissions.
        expect(after.slice(0, 2 * sent).filter((a) => a.task.owner === 'owner-1')).toHaveLength(sent);
      }),
    );
  });
});
