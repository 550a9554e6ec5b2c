/**
 * `GET /luma/generations`: the caller's generations, newest first, a page at a time. The query and the
 * page are shapes of their own, shared by the route, the OpenAPI document and the client; the cursor
 * between pages is made and read here too. Pure: the store pages through its index by the position a cursor
 * names; nothing here knows DynamoDB.
 *
 * A position is a task's arrival order (`arrivalOrder`: `<createdAt>#<id>`), a stable sort key: newest
 * first, a page resumes strictly after the last task it showed, so tasks created while a client pages
 * (which sort before the first page) never shift the pages after it, and every task listed once is never
 * listed again. The cursor carries that position only — never the owner: the store reads the caller's own
 * partition whatever a cursor says, so a cursor, forged or another owner's, can only ever move within the
 * caller's own tasks. It is still checked strictly, so that junk is a 400, not a quiet first page.
 */
// A namespace import: `import { z }` keeps all of zod (every locale) in a bundle, this only what is used.
import * as z from 'zod';
import { PUBLIC_STATES, publicState } from './public-generation.ts';
import { publicGenerationSchema } from './public-generation-schema.ts';
import { TASK_STATUSES, type TaskStatus } from './task.ts';
import { describeIssues, type ValidationIssue } from './generation-request.ts';

export const LIST_LIMIT_DEFAULT = 20;
export const LIST_LIMIT_MAX = 100;

/**
 * The states a client may filter on: the public `state` of a generation, and the Kling-style
 * `data.task_status` that the same answer carries (`submitted` is `pending`, `succeed` is `completed`), so
 * that a client of either shape can use its own words.
 */
const STATE_ALIASES: Readonly<Record<string, (typeof PUBLIC_STATES)[number]>> = {
  ...Object.fromEntries(PUBLIC_STATES.map((state) => [state, state])),
  submitted: 'pending',
  succeed: 'completed',
};
export const LIST_STATES = Object.keys(STATE_ALIASES);

/** What a page asks the store for. */
export interface ListPage {
  limit: number;
  /** Resume after this position (a cursor's); absent: from the newest task. */
  after?: string;
  /** Only tasks in one of these statuses; absent: every task. */
  statuses?: TaskStatus[];
}

/** A task's place in its owner's list: `<createdAt>#<id>`, as `arrivalOrder` makes it. */
const POSITION = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z#[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The longest cursor `encodeCursor` makes, with room to spare; anything longer is not one of ours. */
const MAX_CURSOR_LENGTH = 200;

export function isListPosition(value: string): boolean {
  return POSITION.test(value) && !Number.isNaN(Date.parse(value.slice(0, value.indexOf('#'))));
}

/** The cursor a client passes back for the page after `position`. Opaque to clients: its form may change. */
export function encodeCursor(position: string): string {
  if (!isListPosition(position)) throw new TypeError(`Not a list position: ${position}`);
  return Buffer.from(JSON.stringify({ after: position }), 'utf8').toString('base64url');
}

/** The position a cursor names, or undefined when it is not a cursor `encodeCursor` made. */
export function decodeCursor(cursor: string): string | undefined {
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const after = (decoded as { after?: unknown } | null)?.after;
  if (typeof after !== 'string' || !isListPosition(after)) return undefined;
  // Exactly what encodeCursor makes of it: no second spelling of one cursor, no fields smuggled beside it.
  return encodeCursor(after) === cursor ? after : undefined;
}

/** The statuses behind one public state (or its alias): `pending` is accepted and submitted, and so on. */
export function statusesOf(state: string): TaskStatus[] {
  const wanted = STATE_ALIASES[state];
  return TASK_STATUSES.filter((status) => publicState(status) === wanted);
}

/**
 * The query string, as API Gateway hands it over: every value a string. Parameters it does not know are
 * ignored, as unknown body fields are.
 */
export const generationListQuerySchema = z.object({
  limit: z
    .string()
    .regex(/^[1-9]\d*$/, `must be a whole number from 1 to ${LIST_LIMIT_MAX}`)
    .transform(Number)
    .pipe(z.number().max(LIST_LIMIT_MAX, `must be a whole number from 1 to ${LIST_LIMIT_MAX}`))
    .optional(),
  /** The `next_cursor` of the previous page, as it was: opaque. Read as the position it names. */
  cursor: z
    .string()
    .transform((cursor, ctx) => decodeCursor(cursor) ?? (ctx.addIssue({ code: 'custom', message: 'is not a cursor this API returned' }), z.NEVER))
    .optional(),
  /** One state, or several separated by commas (`pending,processing`: everything unfinished); read as the statuses behind them. */
  state: z
    .string()
    .transform((text, ctx) => {
      const states = text.split(',').map((state) => state.trim());
      if (states.every((state) => Object.hasOwn(STATE_ALIASES, state))) return [...new Set(states.flatMap(statusesOf))];
      ctx.addIssue({ code: 'custom', message: `must be one or more of ${LIST_STATES.join(', ')}, separated by commas` });
      return z.NEVER;
    })
    .optional(),
});

export type GenerationListQuery = z.output<typeof generationListQuerySchema>;

export type ListQueryResult = { ok: true; page: ListPage } | { ok: false; issues: ValidationIssue[] };

/**
 * The page a query asks for, or what is wrong with it, a line per parameter (the 400's details). Each
 * known parameter may be given once: `limit=5&limit=6` is a question with two answers.
 */
export function parseListQuery(query: Readonly<Record<string, readonly string[]>>): ListQueryResult {
  const names = ['limit', 'cursor', 'state'] as const;
  const repeated = names.filter((name) => (query[name]?.length ?? 0) > 1);
  const parsed = generationListQuerySchema.safeParse(Object.fromEntries(names.filter((name) => !repeated.includes(name)).map((name) => [name, query[name]?.[0]])));
  const issues = [...repeated.map((name) => ({ field: name, message: `${name} may be given once` })), ...(parsed.success ? [] : describeIssues(parsed.error))];
  if (!parsed.success || issues.length > 0) return { ok: false, issues: issues.sort((a, b) => names.indexOf(a.field as never) - names.indexOf(b.field as never)) };
  const { limit, cursor, state } = parsed.data;
  return {
    ok: true,
    page: { limit: limit ?? LIST_LIMIT_DEFAULT, ...(cursor !== undefined && { after: cursor }), ...(state !== undefined && { statuses: state }) },
  };
}

export const generationListSchema = z.object({
  data: z.array(publicGenerationSchema),
  /** Pass it as `cursor` for the next page; null on the last one. */
  next_cursor: z.string().nullable(),
});

export type GenerationList = z.output<typeof generationListSchema>;
