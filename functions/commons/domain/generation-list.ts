/**
 * `GET /luma/generations`: the caller's generations, newest first, a page at a time. The query and the
 * page are shapes of their own, shared by the route, the OpenAPI document and the client.
 */
import { z } from 'zod';
import { PUBLIC_STATES, publicGenerationSchema } from './public-generation.ts';

export const LIST_LIMIT_DEFAULT = 20;
export const LIST_LIMIT_MAX = 100;

/** The query string, as API Gateway hands it over: every value a string. */
export const generationListQuerySchema = z.object({
  limit: z
    .string()
    .regex(/^[1-9]\d*$/, `must be a whole number from 1 to ${LIST_LIMIT_MAX}`)
    .transform(Number)
    .pipe(z.number().max(LIST_LIMIT_MAX, `must be a whole number from 1 to ${LIST_LIMIT_MAX}`))
    .optional(),
  /** The `next_cursor` of the previous page, as it was: opaque. */
  cursor: z.string().min(1).max(1024).optional(),
  state: z.enum(PUBLIC_STATES, { error: `must be one of ${PUBLIC_STATES.join(', ')}` }).optional(),
});

export type GenerationListQuery = z.output<typeof generationListQuerySchema>;

export const generationListSchema = z.object({
  data: z.array(publicGenerationSchema),
  /** Pass it as `cursor` for the next page; null on the last one. */
  next_cursor: z.string().nullable(),
});

export type GenerationList = z.output<typeof generationListSchema>;
