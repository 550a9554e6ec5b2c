/**
 * The API's shapes, as types of the very zod schemas the gateway validates requests with and builds answers
 * from. Type-only imports: the client carries no zod and no gateway code at run time.
 */
import type { z } from 'zod';
import type { generationRequestSchema } from '../../functions/commons/domain/generation-request.ts';
import type { publicGenerationSchema } from '../../functions/commons/domain/public-generation-schema.ts';
import type { generationListSchema } from '../../functions/commons/domain/generation-list.ts';
import type { uploadRequestSchema, uploadTicketSchema } from '../../functions/commons/domain/upload.ts';
import type { errorBodySchema } from '../../functions/commons/domain/error-body.ts';

/** The body of `POST /luma/generations`, as a client writes it. */
export type GenerationRequest = z.input<typeof generationRequestSchema>;
/** A generation, as every route answers it. */
export type Generation = z.output<typeof publicGenerationSchema>;
export type GenerationState = Generation['state'];
export type FailureCode = NonNullable<Generation['failure_code']>;
export type GenerationList = z.output<typeof generationListSchema>;
export type UploadRequest = z.input<typeof uploadRequestSchema>;
export type UploadTicket = z.output<typeof uploadTicketSchema>;
export type ErrorBody = z.output<typeof errorBodySchema>;

export const TERMINAL_STATES: readonly GenerationState[] = ['completed', 'failed'];
