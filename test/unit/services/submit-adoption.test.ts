/**
 * The adoption invariants of submitTask, over every interleaving of submit outcomes that fast-check can
 * think of, in a shared upstream account that also holds other clients' generations with the same prompt.
 * The task store here is an in-memory one built on the same pure lifecycle and attempt functions as the
 * DynamoDB store; the integration tests run the same scenarios against the emulators and the simulator.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { submitTask, SUBMIT_LEASE_MS, type SubmitDeps } from '../../../functions/commons/services/submit.ts';
import { admitted, applyChange, isAlreadyApplied, newTask, type Task, type TaskChange } from '../../../functions/commons/domain/task.ts';
import { beginAttempt, endAttempt, type AttemptOutcome } from '../../../functions/commons/domain/submit-attempt.ts';
import type { UpstreamClaims } from '../../../functions/commons/ports/upstream-claims.ts';
import { TransientUpstreamError } from '../../../functions/commons/errors.ts';
import type { TaskStore, TransitionResult } from '../../../functions/commons/ports/task-store.ts';
import type { ProviderRequest, UpstreamGeneration, VideoProvider } from '../../../functions/commons/ports/video-provider.ts';
import type { MediaStore } from '../../../functions/commons/ports/media-store.ts';

beforeAll(() => {
  vi.spyOn(console, 'log').mockImplementation(() => undefined); // the submit's own log lines
});

class MemoryTaskStore implements TaskStore {
  readonly items = new Map<string, Task>();
  async create(task: Task) {
    this.items.set(task.id, structuredClone(task));
  }
  async get(id: string) {
    const task = this.items.get(id);
    return task && structuredClone(task);
  }
  async transition(id: string, change: TaskChange): Promise<TransitionResult> {
    const task = (await this.get(id))!;
    if (isAlreadyApplied(task, change)) return { task, changed: false };
    const next = applyChange(task, change, new Date().toISOString());
    this.items.set(id, next);
    return { task: structuredClone(next), changed: true };
  }
  async claimSubmit(id: string, now: Date, leaseMs: number) {
    const task = (await this.get(id))!;
    const begun = beginAttempt(task, now, leaseMs);
    if (!begun) return { claimed: false as const };
    this.items.set(id, begun);
    return { claimed: true as const, task: structuredClone(begun) };
  }
  async releaseSubmit(id: string, attemptedAt: string, outcome: AttemptOutcome) {
    const task = (await this.get(id))!;
    if (task.status === 'accepted' && task.submitLeaseUntil && task.submitAttemptedAt === attemptedAt) this.items.set(id, endAttempt(task, outcome));
  }
  admit(): Promise<Task | undefined> {
    throw new Error('not used');
  }
  queued(): Promise<{ id: string; ticket: number }[]> {
    throw new Error('not used');
  }
  listPhase(): Promise<{ ids: string[] }> {
    throw new Error('not used');
  }
  noteUpstreamRead(): Promise<Task> {
    throw new Error('not used');
  }
  claimUpstreamRead(): Promise<Task | undefined> {
    throw new Error('not used');
  }
  holdWait(): Promise<Task | undefined> {
    throw new Error('not used');
  }
  markPublished(): Promise<void> {
    throw new Error('not used');
  }
  listOwned(): Promise<{ tasks: Task[] }> {
    throw new Error('not used');
  }
  remove(): Promise<boolean> {
    throw new Error('not used');
  }
}

/** What one create does: its answer, and whether the account got a generation from it. */
type Outcome =
  | 'created' // 201, read
  | 'rate_limited' // 429: clear, nothing created
  | 'server_error' // 503: clear, nothing created
  | 'answer_lost' // created, then the connection was cut: ambiguous
  | 'timeout_unsent' // the timeout hit before the upstream acted: ambiguous, nothing created
  | 'crash_after_create' // created, then the submitter died mid-call
  | 'crash_before_send'; // the submitter died before anything was sent

const OUTCOMES: Outcome[] = ['created', 'rate_limited', 'server_error', 'answer_lost', 'timeout_unsent', 'crash_after_create', 'crash_before_send'];

interface AccountGeneration {
  id: string;
  createdAt: number;
  prompt: string;
  marker?: string;
  foreign: boolean;
}

/** The shared account: our creates, and other clients' same-prompt generations made at the same moments. */
class SharedAccount implements VideoProvider {
  readonly name = 'luma';
  readonly model = 'ray-2';
  readonly generations: AccountGeneration[] = [];
  readonly searches: string[] = [];
  next: Outcome = 'created';
  #ids = 0;
  constructor(private readonly clock: () => number) {}

  #create(request: ProviderRequest, foreign: boolean): AccountGeneration {
    const generation = { id: `gen-${++this.#ids}`, createdAt: this.clock(), prompt: request.prompt, marker: foreign ? undefined : request.marker, foreign };
    this.generations.push(generation);
    return generation;
  }

  async submit(request: ProviderRequest): Promise<UpstreamGeneration> {
    // Another client of the account creates the same prompt at the same moment, whatever happens to ours.
    this.#create(request, true);
    switch (this.next) {
      case 'created':
        return { id: this.#create(request, false).id, state: 'queued' };
      case 'rate_limited':
        throw new TransientUpstreamError('429', { rateLimited: true });
      case 'server_error':
        throw new TransientUpstreamError('503');
      case 'answer_lost':
        this.#create(request, false);
        throw new TransientUpstreamError('cut', { ambiguous: true });
      case 'timeout_unsent':
        throw new TransientUpstreamError('timed out', { ambiguous: true });
      case 'crash_after_create':
        this.#create(request, false);
        return new Promise(() => undefined); // the submitter is gone: nothing after this runs
      case 'crash_before_send':
        return new Promise(() => undefined);
    }
  }

  async get(): Promise<UpstreamGeneration> {
    throw new Error('not used');
  }

  async delete(): Promise<void> {
    throw new Error('not used');
  }

  async findByMarker(marker: string, since: Date): Promise<UpstreamGeneration[]> {
    this.searches.push(marker);
    return this.generations
      .filter((generation) => generation.marker === marker && generation.createdAt >= since.getTime() - 60_000)
      .sort((a, b) => a.createdAt - b.createdAt)
      .map((generation) => ({ id: generation.id, state: 'queued' as const }));
  }
}

class MemoryClaims implements UpstreamClaims {
  readonly owners = new Map<string, string>();
  async claim(provider: string, upstreamId: string, taskId: string) {
    const key = `${provider}#${upstreamId}`;
    const owner = this.owners.get(key) ?? taskId;
    this.owners.set(key, owner);
    return owner === taskId;
  }
}

function world(markers: boolean) {
  let now = Date.parse('2026-11-29T10:00:00Z');
  const clock = () => now;
  const tasks = new MemoryTaskStore();
  const account = new SharedAccount(clock);
  const claims = new MemoryClaims();
  const deps: SubmitDeps = {
    tasks,
    media: {} as MediaStore, // no keyframes in these requests
    provider: account,
    capacity: { countCreate: async () => ({ allowed: true, secondsLeft: 60 }) },
    upstreamClaims: claims,
    keyframeUrlExpirySeconds: 3600,
    clock: () => new Date(now),
  };
  const ids = ['0b4f1c2e-1111-4000-8000-00000000000a', '0b4f1c2e-1111-4000-8000-00000000000b'];
  for (const id of ids) {
    // Admitted: a task holding an upstream slot, as every task the submit sees.
    const task = newTask({
      id,
      owner: `owner-${id}`,
      request: { prompt: 'The same popular prompt' },
      provider: 'luma',
      model: 'ray-2',
      now: new Date(now),
      timeoutSeconds: 3600,
      upstreamMarker: markers ? `https://gw.example/luma/upstream-callbacks/${id}/token-of-${id}` : undefined,
      queueTicket: 1,
    });
    void tasks.create(admitted(task, new Date(now), 1800));
  }
  /** One attempt by one submitter; a crashed one is abandoned, and its lease left to run out. */
  const attempt = async (id: string, outcome: Outcome) => {
    account.next = outcome;
    now += 1000;
    const running = submitTask(tasks.items.get(id)!, deps).catch(() => undefined);
    if (outcome.startsWith('crash')) {
      await new Promise((resolve) => setImmediate(resolve));
      now += SUBMIT_LEASE_MS + 1000;
    } else {
      await running;
    }
  };
  return { tasks, account, claims, ids, attempt, deps };
}

const step = fc.record({ task: fc.integer({ min: 0, max: 1 }), outcome: fc.constantFrom(...OUTCOMES) });

describe('adoption by exact marker, over interleavings of submit outcomes', () => {
  it('every task ends with a generation carrying its own marker, never another client’s or task’s, and none is duplicated', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 12 }), async (steps) => {
        const { tasks, account, claims, ids, attempt } = world(true);
        const ambiguousBefore = new Map<string, boolean>();
        for (const { task, outcome } of steps) {
          const id = ids[task]!;
          if (tasks.items.get(id)!.status !== 'accepted') continue;
          const searchesBefore = account.searches.length;
          const hadAmbiguity = ambiguousBefore.get(id) ?? false;
          await attempt(id, outcome);
          // Never a search without an earlier ambiguous attempt of this task.
          if (!hadAmbiguity) expect(account.searches.length).toBe(searchesBefore);
          if (['answer_lost', 'timeout_unsent', 'crash_after_create', 'crash_before_send'].includes(outcome)) ambiguousBefore.set(id, true);
        }
        for (const id of ids) if (tasks.items.get(id)!.status === 'accepted') await attempt(id, 'created');

        const upstreamIds = ids.map((id) => tasks.items.get(id)!.upstreamId!);
        expect(new Set(upstreamIds).size).toBe(2);
        for (const [index, id] of ids.entries()) {
          const generation = account.generations.find((g) => g.id === upstreamIds[index])!;
          expect(generation.foreign).toBe(false);
          expect(generation.marker).toBe(tasks.items.get(id)!.upstreamMarker);
          expect(claims.owners.get(`luma#${generation.id}`)).toBe(id);
          // The list shows every create at once here, so a marker always finds what an attempt made.
          expect(account.generations.filter((g) => g.marker === generation.marker)).toHaveLength(1);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('without a marker a task never adopts: it submits again, at worst paying twice', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 12 }), async (steps) => {
        const { tasks, account, ids, attempt } = world(false);
        for (const { task, outcome } of steps) if (tasks.items.get(ids[task]!)!.status === 'accepted') await attempt(ids[task]!, outcome);
        for (const id of ids) if (tasks.items.get(id)!.status === 'accepted') await attempt(id, 'created');
        expect(account.searches).toEqual([]);
        for (const id of ids) {
          const generation = account.generations.find((g) => g.id === tasks.items.get(id)!.upstreamId)!;
          expect(generation.foreign).toBe(false);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('a clear 429 and then a retry creates once and never searches', async () => {
    const { tasks, account, ids, attempt } = world(true);
    await attempt(ids[0]!, 'rate_limited');
    expect(tasks.items.get(ids[0]!)!.submitAttemptOutcome).toBe('clear');
    await attempt(ids[0]!, 'created');
    expect(account.searches).toEqual([]);
    expect(account.generations.filter((g) => !g.foreign)).toHaveLength(1);
  });

  it('an answer lost after the create adopts that very generation, not the same-prompt one made a moment before', async () => {
    const { tasks, account, ids, attempt } = world(true);
    await attempt(ids[0]!, 'answer_lost');
    const ours = account.generations.find((g) => !g.foreign)!;
    expect(account.generations.find((g) => g.foreign)!.createdAt).toBeLessThanOrEqual(ours.createdAt);
    await attempt(ids[0]!, 'created');
    expect(tasks.items.get(ids[0]!)!.upstreamId).toBe(ours.id);
    expect(account.generations.filter((g) => !g.foreign)).toHaveLength(1);
  });

  it('a clear answer after an ambiguous attempt does not hide it: the next attempt still searches', async () => {
    const { tasks, account, ids, attempt } = world(true);
    await attempt(ids[0]!, 'timeout_unsent');
    await attempt(ids[0]!, 'rate_limited');
    expect(tasks.items.get(ids[0]!)!.submitAttemptOutcome).toBe('clear');
    await attempt(ids[0]!, 'created');
    expect(account.searches).toHaveLength(2);
    expect(tasks.items.get(ids[0]!)!.status).toBe('submitted');
  });
});
