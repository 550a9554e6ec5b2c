/**
 * The marker's base URL in the template: the API function is told where the upstream can reach it, the
 * REST API's own https endpoint (with its stage) unless a custom one is configured, and a bad one fails synth.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeOutdirs, synthesize } from './support/synth.ts';

afterAll(removeOutdirs);

type Functions = Record<string, { Properties: { Environment?: { Variables?: Record<string, unknown> } } }>;

function functionsOf(context: Record<string, unknown> = {}): Functions {
  return synthesize(context).template.findResources('AWS::Lambda::Function') as Functions;
}

const apiEnvironment = (functions: Functions) =>
  Object.entries(functions).find(([id]) => id.startsWith('ApiApiFunction'))![1].Properties.Environment!.Variables!;

let defaults: Functions;
beforeAll(() => {
  defaults = functionsOf();
});

describe('PUBLIC_BASE_URL of the API function', () => {
  it('is the REST API’s own endpoint and stage by default, built from the API’s id, not from its stage resource', () => {
    const { PUBLIC_BASE_URL } = apiEnvironment(defaults);
    expect(PUBLIC_BASE_URL).toEqual({
      'Fn::Join': [
        '',
        ['https://', { Ref: expect.stringMatching(/^ApiRestApi[0-9A-F]{8}$/) }, '.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/prod'],
      ],
    });
  });

  it('is the configured custom domain, without a trailing slash', () => {
    expect(apiEnvironment(functionsOf({ publicBaseUrl: 'https://video.example.com/' })).PUBLIC_BASE_URL).toBe('https://video.example.com');
  });

  it('must be https without query, fragment or credentials', () => {
    for (const publicBaseUrl of ['http://video.example.com', 'https://video.example.com/?a=1', 'https://u:p@video.example.com', 'video.example.com']) {
      expect(() => functionsOf({ publicBaseUrl }), publicBaseUrl).toThrow(/publicBaseUrl/);
    }
  });

  it('is given to no other function: only the API records tasks', () => {
    const withIt = Object.entries(defaults)
      .filter(([, fn]) => fn.Properties.Environment?.Variables?.PUBLIC_BASE_URL)
      .map(([id]) => id);
    expect(withIt).toHaveLength(1);
    expect(withIt[0]).toMatch(/^ApiApiFunction/);
  });
});
