import * as z from 'zod/mini'; export const s = z.object({ a: z.string().min(3), b: z.optional(z.boolean()) }); export const p = (x) => s.safeParse(x);
