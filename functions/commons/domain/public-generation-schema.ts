/**
 * The contract of the generation object (public-generation.ts maps a task to it): what the API's POST and
 * GET answer, a webhook carries and the OpenAPI document describes. Tests and the chaos invariants parse
 * real responses with it.
 */
// A namespace import: `import { z }` keeps all of zod (every locale) in a bundle, this only what is used.
import * as z from 'zod';
import { FAILURE_CODES } from './failure.ts';
import { LUMA_ASPECT_RATIOS, LUMA_DURATIONS, LUMA_RESOLUTIONS } from './luma-options.ts';
import { PUBLIC_STATES } from './public-generation.ts';

const media = z.object({ url: z.string(), width: z.number().int().nullable(), height: z.number().int().nullable() });

export const publicGenerationSchema = z.object({
  id: z.string(),
  state: z.enum(PUBLIC_STATES),
  created_at: z.string(),
  prompt: z.string(),
  /**
   * What the task is generated with: the request's choice or the gateway's default (`ray-2`, `720p`, `5s`
   * unless the operator set others). `resolution` and `duration` are null for tasks recorded before the
   * gateway kept them; `aspect_ratio` is null when the client chose none (the upstream's default, 16:9).
   */
  model: z.string(),
  resolution: z.enum(LUMA_RESOLUTIONS).nullable(),
  duration: z.enum(LUMA_DURATIONS).nullable(),
  aspect_ratio: z.enum(LUMA_ASPECT_RATIOS).nullable(),
  batch_id: z.string(),
  message: z.string(),
  estimate_wait_seconds: z.number().nullable(),
  last_frame: media.nullable(),
  liked: z.boolean().nullable(),
  /** `queued` while the task waits for an upstream slot; then null. */
  queue_state: z.enum(['queued']).nullable(),
  /** 1-based place in the line for an upstream slot, while queued. */
  queue_position: z.number().int().positive().nullable(),
  thumbnail: media.nullable(),
  video: media
    .extend({
      duration: z.number().nullable(),
      size_bytes: z.number().int(),
      sha256: z.string(),
      download_url: z.string(),
      thumbnail: z.string().nullable(),
    })
    .nullable(),
  video_raw: media.extend({ duration: z.number().nullable() }).nullable(),
  failure_reason: z.string().nullable(),
  failure_code: z.enum(FAILURE_CODES).nullable(),
  code: z.number().int(),
  request_id: z.string(),
  data: z.object({
    task_id: z.string(),
    task_status: z.enum(['submitted', 'processing', 'succeed', 'failed']),
    created_at: z.number().int(),
    updated_at: z.number().int(),
  }),
});

export type PublicGeneration = z.infer<typeof publicGenerationSchema>;
