/**
 * Checks HTTP answers against the OpenAPI document: the operation and the status must be documented, and
 * the body must validate against the documented schema (JSON Schema 2020-12, with ajv). Tests route every
 * answer they receive through it, so the document cannot fall behind what the gateway sends.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { openApiDocument } from '../../functions/commons/domain/openapi.ts';

const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => void;

type Json = Record<string, any>;

export interface CheckedAnswer {
  method: string;
  path: string;
  status: number;
  contentType: string | null;
  body: unknown;
  headers?: Headers;
}

export class OpenApiCheck {
  readonly document: Json;
  readonly checked: string[] = [];
  readonly #ajv = new Ajv2020({ strict: false, allErrors: true });
  readonly #compiled = new Map<unknown, ValidateFunction>();

  constructor(document: Json = openApiDocument()) {
    this.document = document;
    addFormats(this.#ajv);
  }

  resolve<T = Json>(node: Json): T {
    let current = node;
    while (current && typeof current.$ref === 'string') {
      current = (current.$ref as string).slice(2).split('/').reduce((at: Json, key) => at[key], this.document);
    }
    return current as T;
  }

  /** The schema's errors for `value`, or [] when it validates. */
  errorsOf(schema: Json, value: unknown): string[] {
    const resolved = this.resolve(schema);
    let validate = this.#compiled.get(resolved);
    if (!validate) this.#compiled.set(resolved, (validate = this.#ajv.compile(resolved)));
    return validate(value) ? [] : (validate.errors ?? []).map((error) => `${error.instancePath || '(root)'} ${error.message} ${JSON.stringify(error.params)}`);
  }

  /** The documented operation for a method and a concrete path (`/luma/generations/9c49…`). */
  operation(method: string, path: string): { template: string; operation: Json } {
    const bare = path.split('?')[0]!;
    const templates = Object.keys(this.document.paths).sort((a, b) => a.split('{').length - b.split('{').length);
    for (const template of templates) {
      const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
      const operation = this.document.paths[template][method.toLowerCase()];
      if (pattern.test(bare) && operation) return { template, operation };
    }
    throw new Error(`${method} ${bare} is not in the OpenAPI document`);
  }

  /** Throws unless the answer is documented and its body validates; the schema's errors say where. */
  check(answer: CheckedAnswer): void {
    const { template, operation } = this.operation(answer.method, answer.path);
    const name = `${answer.method} ${template} → ${answer.status}`;
    const documented = operation.responses[String(answer.status)];
    if (!documented) throw new Error(`${name} is not documented (documented: ${Object.keys(operation.responses).join(', ')})`);
    const response = this.resolve(documented);
    for (const header of Object.keys(response.headers ?? {})) {
      if (header === 'Retry-After' && !answer.headers?.has('retry-after')) throw new Error(`${name}: no Retry-After header`);
    }
    if (!response.content) {
      if (answer.body !== undefined && answer.body !== '') throw new Error(`${name}: documented without a body, got ${JSON.stringify(answer.body).slice(0, 200)}`);
      this.checked.push(name);
      return;
    }
    const type = (answer.contentType ?? '').split(';')[0]!.trim();
    const media = response.content[type];
    if (!media) throw new Error(`${name}: ${type || 'no content type'} is not documented (${Object.keys(response.content).join(', ')})`);
    const errors = this.errorsOf(media.schema, answer.body);
    if (errors.length > 0) throw new Error(`${name}: the body does not match the document:\n${errors.join('\n')}\n${JSON.stringify(answer.body).slice(0, 2000)}`);
    this.checked.push(name);
  }

  /** A fetch that checks every answer from `origin` (the gateway's; presigned bucket links are not its API). */
  fetchFor(origin: string, inner: typeof fetch = fetch): typeof fetch {
    return async (input, init) => {
      const response = await inner(input, init);
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (url.origin !== origin) return response;
      const text = await response.clone().text();
      const contentType = response.headers.get('content-type');
      const body = text && /json/.test(contentType ?? '') ? JSON.parse(text) : text || undefined;
      this.check({ method: init?.method ?? 'GET', path: url.pathname, status: response.status, contentType, body, headers: response.headers });
      return response;
    };
  }
}
