/**
 * The `detail` of every generation event on EventBridge (generation-events.ts makes them): the contract with
 * the rules and consumers in the owner's account, which the README documents and the example consumer
 * parses. A module of its own, so the functions that only publish events do not bundle zod to build a
 * schema they never read (`import type` from here costs nothing).
 */
// A namespace import: `import { z }` keeps all of zod (every locale) in a bundle, this only what is used.
import * as z from 'zod';
import { FAILURE_CODES } from './failure.ts';

const s3Object = z.object({ bucket: z.string(), key: z.string() });

export const generationEventDetailSchema = z.object({
  id: z.string(),
  owner: z.string(),
  state: z.enum(['pending', 'processing', 'completed', 'failed']),
  failure_code: z.enum(FAILURE_CODES).nullable(),
  /** Only in Generation Completed: the stored video, as the copy verified it. */
  video: s3Object
    .extend({
      sha256: z.string(),
      size_bytes: z.number().int(),
      width: z.number().int(),
      height: z.number().int(),
      duration: z.number(),
    })
    .optional(),
  /** Only in Generation Completed: the stored thumbnail, or null when the upstream gave none. */
  thumbnail: s3Object.nullable().optional(),
});

export type GenerationEventDetail = z.infer<typeof generationEventDetailSchema>;
