import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { openApiDocument } from '../../../functions/commons/domain/openapi.ts';
import { generationRequestSchema } from '../../../functions/commons/domain/generation-request.ts';
import { publicGenerationSchema } from '../../../functions/commons/domain/public-generation-schema.ts';
import { uploadTicketSchema } from '../../../functions/commons/domain/upload.ts';
import { errorBodySchema } from '../../../functions/commons/domain/error-body.ts';
import { FULL_OFFER, type GenerationOffer } from '../../../functions/commons/domain/luma-options.ts';
import { OpenApiCheck } from '../../support/openapi-check.ts';

const document: Record<string, any> = openApiDocument();
const check = new OpenApiCheck(document);
const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

type Json = Record<string, any>;

/** Every operation's examples, with the schema each is an example of. */
function examplesOf(doc: Json): { where: string; schema: Json; value: unknown }[] {
  const found: { where: string; schema: Json; value: unknown }[] = [];
  const collect = (where: string, content: Json | undefined) => {
    for (const [type, media] of Object.entries(content ?? {})) {
      for (const [name, example] of Object.entries((media as Json).examples ?? {})) {
        found.push({ where: `${where} ${type} ${name}`, schema: (media as Json).schema, value: (example as Json).value });
      }
    }
  };
  for (const [path, item] of Object.entries(doc.paths as Json)) {
    for (const [method, operation] of Object.entries(item as Json)) {
      if (method === 'parameters') continue;
      collect(`${method} ${path} request`, (operation as Json).requestBody?.content);
      for (const [status, response] of Object.entries((operation as Json).responses)) {
        collect(`${method} ${path} ${status}`, check.resolve(response as Json).content);
      }
    }
  }
  return found;
}

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1 (@seriousme/openapi-schema-validator)', async () => {
    const result = await new Validator().validate(document as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(document.openapi).toBe('3.1.0');
  });

  it('names every route the gateway serves and the headers of idempotency and limits', () => {
    const routes = Object.entries(document.paths as Json).flatMap(([path, item]) =>
      Object.keys(item as Json).filter((key) => key !== 'parameters').map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(routes.sort()).toEqual(
      [
        'POST /luma/generations',
        'GET /luma/generations',
        'GET /luma/generations/{task_id}',
        'DELETE /luma/generations/{task_id}',
        'POST /luma/generations/{task_id}/cancel',
        'GET /luma/generations/{task_id}/deliveries',
        'POST /luma/generations/{task_id}/deliveries/{delivery_id}/retry',
        'POST /luma/uploads',
        'POST /luma/upstream-callbacks/{task_id}/{token}',
        'GET /openapi.json',
        'GET /',
      ].sort(),
    );
    const create = document.paths['/luma/generations'].post;
    expect(check.resolve(create.parameters[0]).name).toBe('Idempotency-Key');
    expect(Object.keys(create.responses[200].headers)).toContain('Idempotent-Replayed');
    expect(Object.keys(check.resolve(create.responses[429]).headers)).toContain('Retry-After');
    for (const open of ['/openapi.json', '/']) expect(document.paths[open].get.security).toEqual([]);
  });

  it('has examples for requests, generations in each state, uploads and errors, each valid against its schema', () => {
    const examples = examplesOf(document);
    expect(examples.length).toBeGreaterThan(20);
    for (const { where, schema, value } of examples) expect(check.errorsOf(schema, value), where).toEqual([]);
    // The same examples satisfy the zod schemas themselves: the JSON Schema is no looser a copy.
    const generations = document.paths['/luma/generations/{task_id}'].get.responses[200].content['application/json'].examples;
    expect(Object.keys(generations)).toEqual(['pending', 'queued', 'processing', 'completed', 'failed']);
    for (const { value } of Object.values(generations) as Json[]) expect(publicGenerationSchema.parse(value)).toEqual(value);
    for (const { value } of Object.values(document.paths['/luma/generations'].post.requestBody.content['application/json'].examples) as Json[]) {
      expect(generationRequestSchema.safeParse(value).success).toBe(true);
    }
    const ticket = document.paths['/luma/uploads'].post.responses[200].content['application/json'].examples.ticket.value;
    expect(uploadTicketSchema.parse(ticket)).toEqual(ticket);
    const invalid = check.resolve(document.components.responses.BadRequest).content['application/json'].examples['400'].value;
    expect(errorBodySchema.parse(invalid).error.details).toEqual([
      { field: 'user_prompt', message: 'must be 3 to 5000 characters' },
      { field: 'aspect_ratio', message: 'must be one of 1:1, 4:3, 3:4, 16:9, 9:16, 21:9, 9:21' },
    ]);
  });

  it('refuses what the schemas refuse', () => {
    const generation = document.components.schemas.Generation;
    const completed = document.paths['/luma/generations/{task_id}'].get.responses[200].content['application/json'].examples.completed.value;
    expect(check.errorsOf(generation, completed)).toEqual([]);
    expect(check.errorsOf(generation, { ...completed, state: 'done' })).not.toEqual([]);
    expect(check.errorsOf(generation, { ...completed, surprise: 1 })).not.toEqual([]);
    const { video: _video, ...withoutVideo } = completed;
    expect(check.errorsOf(generation, withoutVideo)).not.toEqual([]);
    expect(check.errorsOf(document.components.schemas.GenerationRequest, { user_prompt: 'hi' })).not.toEqual([]);
    expect(check.errorsOf(document.components.schemas.GenerationRequest, { user_prompt: 'A heron', aspect_ratio: '2:1' })).not.toEqual([]);
  });

  it('describes a deployment’s own offer: only the values it allows, with its defaults', () => {
    const offer: GenerationOffer = {
      ...FULL_OFFER,
      resolution: { default: '540p', allowed: ['540p', '720p'] },
      duration: { default: '9s', allowed: ['9s'] },
    };
    const properties = (openApiDocument({ offer }) as Record<string, any>).components.schemas.GenerationRequest.properties;
    expect(properties.resolution).toMatchObject({ enum: ['540p', '720p'], default: '540p' });
    expect(properties.duration).toMatchObject({ enum: ['9s'], default: '9s' });
    expect(properties.model).toMatchObject({ enum: ['ray-2', 'ray-flash-2'], default: 'ray-2' });
    expect(properties.resolution.description).toContain('Offered here: 540p, 720p');
  });
});

/** The JSON documents of the README's console sessions: what a curl sent and what came back, and the CLI's lines. */
interface ReadmeExample {
  where: string;
  kind: 'request' | 'answer';
  path?: string;
  value: Json;
  /** A request the README shows being refused (its answer is an invalid_request error). */
  refused?: boolean;
}

function readmeExamples(): ReadmeExample[] {
  const found: ReadmeExample[] = [];
  const blocks = [...README.matchAll(/```console\n([\s\S]*?)```/g)].map((match) => match[1]!);
  for (const [index, block] of blocks.entries()) {
    // Commands: a `$` line and its continuations; what follows until the next `$` is their output.
    const parts = block.split(/^\$ /m).slice(1);
    for (const part of parts) {
      const lines = part.split('\n');
      // A command goes on past a trailing backslash, and inside a quoted body.
      const quotesOpen = (upTo: number) => (lines.slice(0, upTo + 1).join('\n').match(/'/g) ?? []).length % 2 === 1;
      let end = 0;
      while (end < lines.length - 1 && (lines[end]!.trimEnd().endsWith('\\') || quotesOpen(end))) end++;
      const command = lines.slice(0, end + 1).join('\n');
      const output = lines.slice(end + 1).join('\n').trim();
      const where = `README console block ${index + 1}: ${command.slice(0, 80)}`;
      const body = /-d '([\s\S]*?)'/.exec(command)?.[1];
      const path = /https?:\/\/[^/\s]+(\/[^\s"']*)/.exec(command)?.[1];
      const refused = /"code"\s*:\s*"invalid_request"/.test(output);
      if (body) found.push({ where, kind: 'request', path, value: JSON.parse(body), refused });
      if (!output) continue;
      const documents = output.startsWith('{') && !/^\{.*\}$/m.test(output.split('\n')[0]!) ? [output] : output.split('\n').filter((line) => line.startsWith('{'));
      for (const text of documents) found.push({ where, kind: 'answer', path, value: JSON.parse(text) });
    }
  }
  return found;
}

describe('every README example', () => {
  const examples = readmeExamples();

  it('is found: the sessions, the upload ticket, the error and the CLI’s lines', () => {
    expect(examples.filter((example) => example.kind === 'request').length).toBeGreaterThanOrEqual(2);
    expect(examples.filter((example) => example.kind === 'answer').length).toBeGreaterThanOrEqual(6);
  });

  it.each(examples.map((example) => [example.where, example] as const))('validates against the document: %s', (_where, example) => {
    const schemas = document.components.schemas;
    if (example.kind === 'request') {
      const schema = example.path?.startsWith('/luma/uploads') ? schemas.UploadRequest : schemas.GenerationRequest;
      // A body the README shows refused must be refused by the document too.
      if (example.refused) expect(check.errorsOf(schema, example.value)).not.toEqual([]);
      else expect(check.errorsOf(schema, example.value)).toEqual([]);
      return;
    }
    const value = example.value;
    const [schema, instance] =
      'error' in value
        ? [schemas.Error, value]
        : 'upload_url' in value
          ? [schemas.UploadTicket, value]
          : 'next_cursor' in value
            ? [schemas.GenerationList, value]
            : Array.isArray(value.data)
              ? [schemas.DeliveryList, value]
            : 'event' in value
              ? value.generation
                ? [schemas.Generation, value.generation]
                : [{ type: 'object', required: ['event'] }, value]
              : [schemas.Generation, value];
    expect(check.errorsOf(schema, instance)).toEqual([]);
  });
});
