/**
 * Which webhook URLs a client may give (`callback_url`), deployed and locally, and how the request schema
 * names the field when it may not; `callback_events` and its default.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { callbackAddressRefusal, callbackUrlProblem, DEPLOYED_CALLBACK_POLICY } from '../../../functions/commons/policy/callback-policy.ts';
import { describeIssues, generationRequestSchemaFor } from '../../../functions/commons/domain/generation-request.ts';
import { FULL_OFFER } from '../../../functions/commons/domain/luma-options.ts';

const LOCAL = { allowLoopback: true };
const deployed = generationRequestSchemaFor(FULL_OFFER);
const local = generationRequestSchemaFor(FULL_OFFER, LOCAL);
const PROMPT = 'a paper boat drifting down a rainy street';

function issues(schema: typeof deployed, body: Record<string, unknown>) {
  const result = schema.safeParse({ user_prompt: PROMPT, ...body });
  return result.success ? [] : describeIssues(result.error);
}

describe('callback_url, deployed: https on a public address only', () => {
  it.each(['https://hooks.example.com/luma', 'https://hooks.example.com:8443/a?b=c', 'https://93.184.216.34/hook', 'https://[2606:4700::1]/hook'])('accepts %s', (url) => {
    expect(callbackUrlProblem(url, DEPLOYED_CALLBACK_POLICY)).toBeUndefined();
    expect(issues(deployed, { callback_url: url })).toEqual([]);
  });

  it.each([
    ['http://hooks.example.com/luma', /https/],
    ['ftp://hooks.example.com/luma', /https/],
    ['https://user:secret@hooks.example.com/', /credentials/],
    ['https://127.0.0.1/hook', /public address \(127\.0\.0\.1 is a loopback/],
    ['http://127.0.0.1:8080/hook', /https/],
    ['https://localhost/hook', /this machine/],
    ['https://10.0.0.5/hook', /private/],
    ['https://169.254.169.254/latest/meta-data', /link-local/],
    ['https://[::1]/hook', /loopback/],
    ['https://[::ffff:10.0.0.1]/hook', /IPv4-mapped/],
    ['not a url', /valid URL/],
    [`https://hooks.example.com/${'a'.repeat(2100)}`, /2048/],
  ])('refuses %s with a 400 naming callback_url', (url, message) => {
    expect(issues(deployed, { callback_url: url })).toEqual([{ field: 'callback_url', message: expect.stringMatching(message) }]);
  });

  it('never lets a literal non-public address through, whatever its form', () => {
    fc.assert(
      fc.property(fc.ipV4(), (address) => {
        const refused = callbackUrlProblem(`https://${address}/hook`, DEPLOYED_CALLBACK_POLICY) !== undefined;
        expect(refused).toBe(callbackAddressRefusal(DEPLOYED_CALLBACK_POLICY)(address) !== undefined);
      }),
    );
  });
});

describe('callback_url, locally: also a receiver on this machine, over http', () => {
  it.each(['http://127.0.0.1:8080/hook', 'http://[::1]:8080/hook', 'http://localhost:9000/', 'https://127.0.0.2/hook'])('accepts %s', (url) => {
    expect(issues(local, { callback_url: url })).toEqual([]);
  });

  it.each([
    ['http://10.0.0.5/hook', /https/],
    ['https://192.168.1.10/hook', /private/],
    ['http://hooks.example.com/luma', /https/],
  ])('still refuses %s', (url, message) => {
    expect(issues(local, { callback_url: url })).toEqual([{ field: 'callback_url', message: expect.stringMatching(message) }]);
  });

  it('connects to loopback addresses only besides public ones', () => {
    const refusal = callbackAddressRefusal(LOCAL);
    expect(refusal('127.0.0.1')).toBeUndefined();
    expect(refusal('::1')).toBeUndefined();
    expect(refusal('93.184.216.34')).toBeUndefined();
    expect(refusal('10.0.0.1')).toMatch(/private/);
    expect(refusal('169.254.169.254')).toMatch(/link-local/);
    expect(callbackAddressRefusal(DEPLOYED_CALLBACK_POLICY)('127.0.0.1')).toMatch(/loopback/);
  });
});

describe('callback_events', () => {
  it('is optional (the task then reports completed and failed, its creator decides), ordered and deduplicated', () => {
    const parsed = deployed.parse({ user_prompt: PROMPT, callback_url: 'https://hooks.example.com/', callback_events: ['failed', 'processing', 'failed'] });
    expect(parsed.callback_events).toEqual(['processing', 'failed']);
    expect(deployed.parse({ user_prompt: PROMPT, callback_url: 'https://hooks.example.com/' }).callback_events).toBeUndefined();
  });

  it.each([
    [{ callback_url: 'https://hooks.example.com/', callback_events: [] }, 'callback_events', /at least one/],
    [{ callback_url: 'https://hooks.example.com/', callback_events: ['pending'] }, 'callback_events.0', /processing, completed, failed/],
    [{ callback_url: 'https://hooks.example.com/', callback_events: 'completed' }, 'callback_events', /list/],
    [{ callback_events: ['completed'] }, 'callback_events', /needs a callback_url/],
    [{ callback_url: 42 }, 'callback_url', /string/],
  ])('refuses %j naming %s', (body, field, message) => {
    expect(issues(deployed, body)).toContainEqual({ field, message: expect.stringMatching(message) });
  });
});
