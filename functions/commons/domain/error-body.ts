/**
 * The body of every error the API answers, the function's and the edge's alike (gateway responses, the web
 * ACL's blocks): `{"error": {"code", "message", "details"?}}`. `code` is stable and meant for programs;
 * `message` is for people; `details` names the fields of a 400 (`[{field, message}]`) or carries a few
 * figures (a limit, a task id).
 */
// A namespace import: `import { z }` keeps all of zod (every locale) in a bundle, this only what is used.
import * as z from 'zod';

export const validationIssueSchema = z.object({ field: z.string(), message: z.string() });

export const errorBodySchema = z.object({
  error: z.object({
    code: z.string().regex(/^[a-z][a-z0-9_]*$/),
    message: z.string(),
    details: z.union([z.array(validationIssueSchema), z.record(z.string(), z.unknown())]).optional(),
  }),
});

export type ErrorBody = z.output<typeof errorBodySchema>;
