/**
 * The invariants every scenario of `npm run chaos` checks: every submit accepted, every accepted task
 * terminal and on the published schema, none lost, none stuck, one upstream generation per prompt, no
 * upstream slot held once everything has ended.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { LocalGateway } from '../../local/gateway.ts';
import { LOCAL_REGION } from '../../local/local-aws.ts';
import { DynamoDbUpstreamCapacity } from '../../functions/commons/adapters/upstream-capacity.ts';
import { publicGenerationSchema } from '../../functions/commons/domain/public-generation-schema.ts';
import { TABLE_NAME, type Answer, type Api } from './harness.ts';
import { countBy, mapLimit, sleep, waitUntil } from './util.ts';

/** The ids of the submits answered 200; every other answer is a lost task. */
export function acceptedIds(answers: Answer[], violations: string[]): string[] {
  const refused = answers.filter((answer) => answer.status !== 200 || typeof answer.body?.id !== 'string');
  if (refused.length > 0) {
    violations.push(
      `${refused.length} submits were not answered 200 with a task: ${refused.slice(0, 10).map((a) => `${a.status} ${describeAnswer(a)}`).join('; ')}`,
    );
  }
  return answers.filter((answer) => !refused.includes(answer)).map((answer) => answer.body.id as string);
}

export function describeAnswer(answer: Answer): string {
  if (answer.error) return answer.error;
  if (answer.status === 200) return `id ${answer.body?.id}`;
  return JSON.stringify(answer.body).slice(0, 300);
}

export interface Waited {
  /** The terminal answer of each task that reached one. */
  final: Map<string, any>;
  /** Tasks still not terminal when the bound ran out, with the last state seen. */
  stuck: { id: string; state: string; message?: string }[];
  notFound: string[];
  /** GETs that failed or answered other than 200/404, and answers off the published schema. */
  errors: string[];
}

/** Polls every unfinished task, a few at a time, until all are terminal or `boundMs` has passed. */
export async function waitAllTerminal(api: Api, ids: string[], boundMs: number): Promise<Waited> {
  const final = new Map<string, any>();
  const last = new Map<string, any>();
  const notFound: string[] = [];
  const errors: string[] = [];
  const pending = new Set(ids);
  const until = Date.now() + boundMs;
  while (pending.size > 0 && Date.now() < until) {
    await mapLimit([...pending], 8, async (id) => {
      const answer = await api.get(id);
      if (answer.status === 404) {
        notFound.push(id);
        pending.delete(id);
      } else if (answer.status !== 200) {
        errors.push(`GET ${id} answered ${answer.status} ${describeAnswer(answer)}`);
      } else {
        last.set(id, answer.body);
        if (answer.body.state === 'completed' || answer.body.state === 'failed') {
          const parsed = publicGenerationSchema.safeParse(answer.body);
          if (!parsed.success) errors.push(`GET ${id}: the answer is off the schema: ${parsed.error.message.slice(0, 300)}`);
          final.set(id, answer.body);
          pending.delete(id);
        }
      }
    });
    if (pending.size > 0) await sleep(Math.min(1000, 100 + pending.size * 5));
  }
  const stuck = [...pending].map((id) => ({ id, state: last.get(id)?.state ?? 'never seen', message: last.get(id)?.message }));
  return { final, stuck, notFound, errors };
}

export function reportWaitProblems(waited: Waited, violations: string[]): void {
  if (waited.notFound.length > 0) violations.push(`${waited.notFound.length} accepted tasks answered 404: ${waited.notFound.slice(0, 10).join(', ')}`);
  if (waited.stuck.length > 0) {
    violations.push(
      `${waited.stuck.length} tasks never became terminal: ${waited.stuck.slice(0, 10).map((s) => `${s.id} ${s.state} (${s.message})`).join('; ')}`,
    );
  }
  if (waited.errors.length > 0) violations.push(`${waited.errors.length} GETs went wrong: ${waited.errors.slice(0, 5).join('; ')}`);
}

/** Each prompt must appear in exactly one upstream generation. */
export function checkOnePerPrompt(
  prompts: string[],
  upstreamPrompts: string[],
  violations: string[],
  taskIds: (string | undefined)[] = [],
): { duplicated: number; missing: number } {
  const counts = countBy(upstreamPrompts, (p) => p);
  const name = (p: string) => {
    const id = taskIds[prompts.indexOf(p)];
    return id ? `task ${id} ("${p}")` : `"${p}"`;
  };
  const duplicated = prompts.filter((p) => (counts[p] ?? 0) > 1);
  const missing = prompts.filter((p) => (counts[p] ?? 0) === 0);
  if (duplicated.length > 0) {
    violations.push(`${duplicated.length} tasks were created more than once upstream: ${duplicated.slice(0, 10).map((p) => `${name(p)} ×${counts[p]}`).join('; ')}`);
  }
  if (missing.length > 0) violations.push(`${missing.length} tasks were never created upstream: ${missing.slice(0, 10).map(name).join('; ')}`);
  return { duplicated: duplicated.length, missing: missing.length };
}

/**
 * Once every execution has ended (a failed task's slot is released right after its failure is recorded),
 * no `SLOT#n` item may still have a holder. Returns the number of leaked slots.
 */
export async function checkSlots(gateway: LocalGateway, maxConcurrent: number, violations: string[]): Promise<number> {
  const idle = await waitUntil(async () => (gateway.stepFunctions.listExecutions('RUNNING').length === 0 ? true : undefined), 30_000);
  if (!idle) {
    const running = gateway.stepFunctions.listExecutions('RUNNING');
    violations.push(`${running.length} executions still RUNNING after every task was terminal: ${running.slice(0, 5).map((e) => e.name).join(', ')}`);
  }
  const client = new DynamoDBClient({ endpoint: gateway.dynamoDbEndpoint, region: LOCAL_REGION, credentials: gateway.credentials });
  try {
    const capacity = new DynamoDbUpstreamCapacity(DynamoDBDocumentClient.from(client), TABLE_NAME, { maxConcurrent, maxCreatesPerMinute: 1 });
    const held = (await capacity.slots()).filter((slot) => slot.holder);
    if (held.length > 0) {
      violations.push(`${held.length} upstream slots are still held: ${held.map((s) => `SLOT#${s.index} by ${s.holder} until ${new Date(s.leaseUntil ?? 0).toISOString()}`).join('; ')}`);
    }
    return held.length;
  } finally {
    client.destroy();
  }
}
