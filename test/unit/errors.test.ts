/**
 * The error catalogue: every named error is one entry, the classes read their status, code and retry flag
 * from it, the workflow's retry lists come from it, and the domain's own error becomes a named one at the
 * edges (the API's answer, the name a Lambda reports to the state machine).
 */
import { describe, expect, it } from 'vitest';
import * as errors from '../../functions/commons/errors.ts';
import {
  ERROR_CATALOGUE,
  GatewayError,
  InvalidTransitionError,
  NotFoundError,
  asGatewayError,
  catalogueEntry,
  errorsRetriedBy,
  withGatewayErrors,
} from '../../functions/commons/errors.ts';
import { TransitionRefusedError } from '../../functions/commons/domain/task.ts';
import { errorResponse } from '../../functions/api/http.ts';

/** Each class takes a message first; what follows (options, a Retry-After) may be left out but for these. */
type Constructor = (new (message: string, options?: never) => GatewayError) & { name: string };
const classes = (Object.values(errors) as unknown[]).filter(
  (value): value is Constructor => typeof value === 'function' && value.prototype instanceof GatewayError,
);
const instanceOf = (type: Constructor): GatewayError => new type('message');

describe('the error catalogue', () => {
  it('has one exported class per entry, named as the entry', () => {
    expect(classes.map((type) => type.name).sort()).toEqual(Object.keys(ERROR_CATALOGUE).sort());
  });

  it.each(classes.filter((type) => type.name !== 'UpstreamRejectedError').map((type) => [type.name, type] as const))(
    '%s carries its entry’s status and code, and is retryable exactly when a step retries it',
    (name, type) => {
      const error = instanceOf(type);
      const entry = catalogueEntry(name)!;
      expect(error).toMatchObject({ name, status: entry.status, code: entry.code, retryable: (entry.retriedBy ?? []).length > 0 });
    },
  );

  it('an upstream refusal carries the status and failure code it was raised with', () => {
    const error = new errors.UpstreamRejectedError('no', { status: 422, failureCode: 'moderation' });
    expect(error).toMatchObject({ status: 422, code: 'moderation', failureCode: 'moderation', retryable: false });
  });

  it('gives each retrying step its own transient error first, then the AWS services’', () => {
    expect(errorsRetriedBy('Poll')).toEqual(['TransientUpstreamError', 'TransientAwsError']);
    expect(errorsRetriedBy('Copy')).toEqual(['TransientDownloadError', 'TransientAwsError']);
  });

  it('knows no name outside its entries, inherited ones included', () => {
    for (const name of ['constructor', '__proto__', 'toString', 'TypeError', 'States.Timeout']) expect(catalogueEntry(name)).toBeUndefined();
  });
});

describe('the domain’s transition error at the edges', () => {
  const refused = new TransitionRefusedError('Task t1 is completed; it cannot move to dreaming.');

  it('carries no HTTP status of its own', () => {
    expect(refused).not.toHaveProperty('status');
    expect(refused.name).toBe('TransitionRefusedError');
  });

  it('becomes InvalidTransitionError, with its message and itself as the cause; anything else is left as it is', () => {
    const mapped = asGatewayError(refused);
    expect(mapped).toBeInstanceOf(InvalidTransitionError);
    expect(mapped).toMatchObject({ message: refused.message, status: 409, code: 'invalid_transition', cause: refused });
    const other = new NotFoundError('x');
    expect(asGatewayError(other)).toBe(other);
    const plain = new Error('y');
    expect(asGatewayError(plain)).toBe(plain);
  });

  it('the API answers it 409 invalid_transition', () => {
    const response = errorResponse(refused, 'req-1', () => undefined);
    expect(response.statusCode).toBe(409);
    expect(JSON.parse(response.body)).toEqual({ error: { code: 'invalid_transition', message: refused.message } });
  });

  it('a Lambda handler reports it under the catalogue’s name, and passes results and other errors through', async () => {
    const failing = withGatewayErrors(async () => {
      throw refused;
    });
    await expect(failing()).rejects.toMatchObject({ name: 'InvalidTransitionError', message: refused.message });
    const plain = new Error('y');
    await expect(
      withGatewayErrors(async () => {
        throw plain;
      })(),
    ).rejects.toBe(plain);
    await expect(withGatewayErrors(async (a: number, b: number) => a + b)(2, 3)).resolves.toBe(5);
  });
});
