import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  KEYFRAME_URL_MAX_LENGTH,
  MAX_KEYFRAME_BYTES,
  PROMPT_MAX_LENGTH,
  PROMPT_MIN_LENGTH,
  describeIssues,
  generationRequestSchema,
  generationRequestSchemaFor,
  type GenerationRequestBody,
  type ValidationIssue,
} from '../../../functions/commons/domain/generation-request.ts';
import {
  FULL_OFFER,
  LUMA_ASPECT_RATIOS,
  LUMA_DURATIONS,
  LUMA_MODELS,
  LUMA_RESOLUTIONS,
  parseGenerationOffer,
} from '../../../functions/commons/domain/luma-options.ts';
import { pngOfSize } from '../../support/png.ts';

const fixture = (path: string): Buffer => readFileSync(new URL(path, import.meta.url));
const PNG = fixture('../../fixtures/media/tiny.png'); // 64 x 48
const WEBP = fixture('../../fixtures/media/tiny.webp'); // 96 x 64
const JPEG = fixture('../../../local/assets/sample.jpg'); // 320 x 180

/** The example body of the aggregator's "Create Video by Luma" page, verbatim. */
const AGGREGATOR_EXAMPLE = {
  user_prompt:
    'Cinematic shot of a tranquil indoor pool room. A graceful pink flamingo stands in clear turquoise water, creating subtle ripples. Golden hour light casts dramatic geometric shadows through expansive windows and a glass roof onto minimalist beige walls. Rattan furniture with cream cushions. Lush tropical plants. Serene, high-end resort aesthetic. The flamingo subtly preens.',
  expand_prompt: true,
  image_url: 'https://img.upanh.tv/2025/05/23/b69ee84d-849d-48c0-863a-40b646190dd6.png',
};

const PROMPT = 'a paper boat drifting down a rainy street';

function accept(body: unknown): GenerationRequestBody {
  const result = generationRequestSchema.safeParse(body);
  if (!result.success) throw new Error(`expected the body to be valid, got ${JSON.stringify(describeIssues(result.error))}`);
  return result.data;
}

/** Short JSON of a parse result: inline keyframe bytes shown as their count, so a failure message stays small. */
function summary(value: unknown): string {
  const text = JSON.stringify(value, (key, item: unknown) =>
    key === 'bytes' && item && typeof item === 'object' && 'data' in item ? `<${(item.data as unknown[]).length} bytes>` : item,
  );
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

function reject(body: unknown): ValidationIssue[] {
  const result = generationRequestSchema.safeParse(body);
  if (result.success) throw new Error(`expected the body to be invalid, got ${summary(result.data)}`);
  const issues = describeIssues(result.error);
  expect(issues.length).toBeGreaterThan(0);
  return issues;
}

/** it.each spreads array rows into arguments: wrap each value so `[]` and `['abc']` arrive as themselves. */
const rows = (values: unknown[]): [unknown][] => values.map((value) => [value]);

/** The issues for one field; asserts there is at least one. */
function rejectField(body: unknown, field: string): ValidationIssue[] {
  const issues = reject(body);
  const forField = issues.filter((issue) => issue.field === field);
  expect(forField, `issues ${JSON.stringify(issues)} should name ${field}`).not.toHaveLength(0);
  return forField;
}

describe('generationRequestSchema: the aggregator example', () => {
  it('accepts the aggregator example body and keeps its fields', () => {
    const request = accept(AGGREGATOR_EXAMPLE);
    expect(request.user_prompt).toBe(AGGREGATOR_EXAMPLE.user_prompt);
    expect(request.expand_prompt).toBe(true);
    expect(request.image_url).toEqual({ kind: 'url', url: AGGREGATOR_EXAMPLE.image_url });
    expect(request.image_end_url).toBeUndefined();
    expect(request.loop).toBeUndefined();
    expect(request.aspect_ratio).toBeUndefined();
  });

  it('accepts a body with every field set', () => {
    const request = accept({
      user_prompt: PROMPT,
      expand_prompt: false,
      loop: false,
      image_url: 'https://example.com/start.png',
      image_end_url: 'https://example.com/end.png',
      aspect_ratio: '9:16',
    });
    expect(request).toEqual({
      user_prompt: PROMPT,
      expand_prompt: false,
      loop: false,
      image_url: { kind: 'url', url: 'https://example.com/start.png' },
      image_end_url: { kind: 'url', url: 'https://example.com/end.png' },
      aspect_ratio: '9:16',
    });
  });

  it('drops unknown extra fields', () => {
    const request = accept({ user_prompt: PROMPT, webhook: 'https://evil.example', concepts: [{ key: 'dolly_zoom' }], extra: { a: 1 } });
    const known = ['user_prompt', 'expand_prompt', 'loop', 'image_url', 'image_end_url', 'aspect_ratio', 'model', 'resolution', 'duration', 'callback_url', 'callback_events'];
    for (const key of Object.keys(request)) expect(known).toContain(key);
    expect(request.user_prompt).toBe(PROMPT);
    expect(request).not.toHaveProperty('concepts');
    expect(request).not.toHaveProperty('webhook');
    expect(request).not.toHaveProperty('extra');
  });
});

describe('generationRequestSchema: field types', () => {
  it.each(rows([null, [], 'a prompt', 42, true]))('rejects a body that is not an object (%j), naming the body', (body) => {
    expect(reject(body)).toEqual([expect.objectContaining({ field: '(body)' })]);
  });

  it('requires user_prompt', () => {
    expect(rejectField({}, 'user_prompt')).toEqual([{ field: 'user_prompt', message: 'is required' }]);
    expect(rejectField({ expand_prompt: true }, 'user_prompt')[0].message).toBe('is required');
  });

  it.each(rows([123, null, true, {}]))('rejects user_prompt %j: must be a string', (value) => {
    expect(reject({ user_prompt: value })).toEqual([{ field: 'user_prompt', message: 'must be a string' }]);
  });

  it.each(rows([[], ['abc'], ['a', 'b', 'c', 'd']]))('rejects user_prompt %j: must be a string (first)', (value) => {
    // zod 4 also runs the length checks on an array (it has a .length), adding a second, less useful
    // "must be 3 to 5000 characters" issue; the type issue comes first.
    const issues = reject({ user_prompt: value });
    expect(issues[0]).toEqual({ field: 'user_prompt', message: 'must be a string' });
    for (const issue of issues) expect(issue.field).toBe('user_prompt');
  });

  it.each(rows(['yes', 'true', 1, 0, null, [], {}]))('rejects expand_prompt %j', (value) => {
    rejectField({ user_prompt: PROMPT, expand_prompt: value }, 'expand_prompt');
  });

  it.each(rows(['true', 'false', 1, 0, null, [], {}]))('rejects loop %j', (value) => {
    rejectField({ user_prompt: PROMPT, loop: value }, 'loop');
  });

  it.each(rows([123, true, false, [], {}, '']))('rejects image_url %j', (value) => {
    rejectField({ user_prompt: PROMPT, image_url: value }, 'image_url');
  });

  it('image_url null or absent means no start frame', () => {
    expect(accept({ user_prompt: PROMPT, image_url: null }).image_url).toBeNull();
    expect(accept({ user_prompt: PROMPT }).image_url).toBeUndefined();
  });

  it.each(rows([123, true, [], {}, '', 'not a keyframe']))('rejects image_end_url %j', (value) => {
    rejectField({ user_prompt: PROMPT, image_end_url: value }, 'image_end_url');
  });

  it.each(rows([169, null, true, [], {}]))('rejects aspect_ratio of the wrong type (%j)', (value) => {
    rejectField({ user_prompt: PROMPT, aspect_ratio: value }, 'aspect_ratio');
  });
});

describe('generationRequestSchema: user_prompt length', () => {
  const prompt = (length: number) => 'x'.repeat(length);

  it.each([PROMPT_MIN_LENGTH, 5, PROMPT_MAX_LENGTH])('accepts %i characters', (length) => {
    expect(accept({ user_prompt: prompt(length) }).user_prompt).toHaveLength(length);
  });

  it.each([0, 1, PROMPT_MIN_LENGTH - 1, PROMPT_MAX_LENGTH + 1, 20_000])('rejects %i characters', (length) => {
    const [issue] = rejectField({ user_prompt: prompt(length) }, 'user_prompt');
    expect(issue.message).toBe('must be 3 to 5000 characters');
  });

  it('limits are the official API’s 3 and 5000', () => {
    expect([PROMPT_MIN_LENGTH, PROMPT_MAX_LENGTH]).toEqual([3, 5000]);
  });

  it('trims surrounding whitespace before measuring', () => {
    expect(accept({ user_prompt: '  \n\tabc \t\n ' }).user_prompt).toBe('abc');
    expect(accept({ user_prompt: `   ${prompt(PROMPT_MAX_LENGTH)}   ` }).user_prompt).toHaveLength(PROMPT_MAX_LENGTH);
    rejectField({ user_prompt: '   ab   ' }, 'user_prompt');
    rejectField({ user_prompt: ' \n\t   \n' }, 'user_prompt');
  });

  it('keeps inner whitespace', () => {
    expect(accept({ user_prompt: ' a  b\nc ' }).user_prompt).toBe('a  b\nc');
  });
});

describe('generationRequestSchema: aspect_ratio', () => {
  it('offers the aggregator’s five ratios and Luma’s two cinema ratios', () => {
    expect([...LUMA_ASPECT_RATIOS]).toEqual(['1:1', '4:3', '3:4', '16:9', '9:16', '21:9', '9:21']);
  });

  it.each(LUMA_ASPECT_RATIOS)('accepts %s', (ratio) => {
    expect(accept({ user_prompt: PROMPT, aspect_ratio: ratio }).aspect_ratio).toBe(ratio);
  });

  it.each(['2:1', '16:10', '16/9', '', ' 16:9', '16:9 ', '21:09'])('rejects %j, listing the allowed ratios', (ratio) => {
    const [issue] = rejectField({ user_prompt: PROMPT, aspect_ratio: ratio }, 'aspect_ratio');
    expect(issue.message).toBe('must be one of 1:1, 4:3, 3:4, 16:9, 9:16, 21:9, 9:21');
  });
});

describe('generationRequestSchema: model, resolution, duration', () => {
  const CHOICES = [
    ['model', LUMA_MODELS],
    ['resolution', LUMA_RESOLUTIONS],
    ['duration', LUMA_DURATIONS],
  ] as const;

  it('offers exactly Luma’s values', () => {
    expect([...LUMA_MODELS]).toEqual(['ray-2', 'ray-flash-2']);
    expect([...LUMA_RESOLUTIONS]).toEqual(['540p', '720p', '1080p', '4k']);
    expect([...LUMA_DURATIONS]).toEqual(['5s', '9s']);
  });

  it.each(CHOICES.flatMap(([field, values]) => values.map((value) => [field, value] as const)))('accepts %s %s', (field, value) => {
    expect(accept({ user_prompt: PROMPT, [field]: value })[field]).toBe(value);
  });

  it('leaves each unset when the request names none: the deployment’s default applies later', () => {
    const request = accept({ user_prompt: PROMPT });
    expect(request.model).toBeUndefined();
    expect(request.resolution).toBeUndefined();
    expect(request.duration).toBeUndefined();
  });

  it.each([
    ['model', 'ray-3', 'must be one of ray-2, ray-flash-2'],
    ['model', 'RAY-2', 'must be one of ray-2, ray-flash-2'],
    ['model', 2, 'must be one of ray-2, ray-flash-2'],
    ['resolution', '8k', 'must be one of 540p, 720p, 1080p, 4k'],
    ['resolution', '720', 'must be one of 540p, 720p, 1080p, 4k'],
    ['resolution', '4K', 'must be one of 540p, 720p, 1080p, 4k'],
    ['resolution', null, 'must be one of 540p, 720p, 1080p, 4k'],
    ['duration', '10s', 'must be one of 5s, 9s'],
    ['duration', 5, 'must be one of 5s, 9s'],
    ['duration', '', 'must be one of 5s, 9s'],
  ])('rejects %s %j with a 400 naming the field and the allowed values', (field, value, message) => {
    expect(rejectField({ user_prompt: PROMPT, [field]: value }, field)).toEqual([{ field, message }]);
  });

  describe('restricted by the operator', () => {
    const offer = parseGenerationOffer(
      { model: { allowed: 'ray-flash-2', default: 'ray-flash-2' }, resolution: { allowed: '540p,720p,1080p' }, duration: { allowed: ['5s'] } },
      'env',
    );
    const schema = generationRequestSchemaFor(offer);
    const issues = (body: unknown) => {
      const result = schema.safeParse(body);
      return result.success ? [] : describeIssues(result.error);
    };

    it('refuses a value Luma knows but the gateway does not offer, saying so and listing what it offers', () => {
      expect(issues({ user_prompt: PROMPT, resolution: '4k' })).toEqual([
        { field: 'resolution', message: 'resolution 4k is not offered by this gateway; allowed: 540p, 720p, 1080p' },
      ]);
      expect(issues({ user_prompt: PROMPT, duration: '9s' })).toEqual([
        { field: 'duration', message: 'duration 9s is not offered by this gateway; allowed: 5s' },
      ]);
      expect(issues({ user_prompt: PROMPT, model: 'ray-2' })).toEqual([
        { field: 'model', message: 'model ray-2 is not offered by this gateway; allowed: ray-flash-2' },
      ]);
    });

    it('an unknown value lists only what the gateway offers', () => {
      expect(issues({ user_prompt: PROMPT, resolution: '8k' })).toEqual([{ field: 'resolution', message: 'must be one of 540p, 720p, 1080p' }]);
    });

    it('accepts every offered value, and reports each refused field at once', () => {
      for (const resolution of offer.resolution.allowed) expect(issues({ user_prompt: PROMPT, resolution })).toEqual([]);
      expect(issues({ user_prompt: PROMPT, model: 'ray-flash-2', duration: '5s' })).toEqual([]);
      expect(issues({ user_prompt: PROMPT, resolution: '4k', duration: '9s' }).map((issue) => issue.field)).toEqual(['resolution', 'duration']);
    });

    it('the unrestricted schema offers everything', () => {
      expect(FULL_OFFER.resolution.allowed).toEqual(LUMA_RESOLUTIONS);
      expect(accept({ user_prompt: PROMPT, model: 'ray-2', resolution: '4k', duration: '9s' })).toMatchObject({ resolution: '4k' });
    });
  });
});

describe('generationRequestSchema: loop and image_end_url', () => {
  const END = 'https://example.com/end.png';

  it('rejects loop together with an end frame, naming loop', () => {
    const [issue] = rejectField({ user_prompt: PROMPT, loop: true, image_end_url: END }, 'loop');
    expect(issue.message).toMatch(/image_end_url/);
  });

  it('accepts loop alone, or with a start frame', () => {
    expect(accept({ user_prompt: PROMPT, loop: true }).loop).toBe(true);
    expect(accept({ user_prompt: PROMPT, loop: true, image_url: END }).loop).toBe(true);
  });

  it('accepts loop: false with an end frame', () => {
    expect(accept({ user_prompt: PROMPT, loop: false, image_end_url: END }).image_end_url).toEqual({ kind: 'url', url: END });
  });

  it.each([false, null, undefined])('image_end_url %j means no end frame (and loop is then allowed)', (value) => {
    const request = accept({ user_prompt: PROMPT, loop: true, image_end_url: value });
    expect(request.image_end_url).toBeUndefined();
    expect(request.loop).toBe(true);
  });

  it('rejects image_end_url: true (the aggregator’s "boolean" is a slip, not a switch)', () => {
    rejectField({ user_prompt: PROMPT, image_end_url: true }, 'image_end_url');
  });
});

describe('generationRequestSchema: keyframe URLs', () => {
  const parseUrl = (value: string) => accept({ user_prompt: PROMPT, image_url: value }).image_url;

  it('accepts an https URL', () => {
    expect(parseUrl('https://example.com/a.png?x=1#f')).toEqual({ kind: 'url', url: 'https://example.com/a.png?x=1#f' });
  });

  it('accepts an http URL', () => {
    expect(parseUrl('http://example.com/a.png')).toEqual({ kind: 'url', url: 'http://example.com/a.png' });
  });

  it('trims and normalises the URL', () => {
    expect(parseUrl('  HTTPS://Example.COM/a b.png  ')).toEqual({ kind: 'url', url: 'https://example.com/a%20b.png' });
  });

  it('accepts the same forms for image_end_url', () => {
    expect(accept({ user_prompt: PROMPT, image_end_url: 'https://example.com/e.jpg' }).image_end_url).toEqual({
      kind: 'url',
      url: 'https://example.com/e.jpg',
    });
  });

  it.each([
    'ftp://example.com/a.png',
    'file:///etc/passwd',
    'javascript:alert(1)',
    'gopher://example.com/',
    'ws://example.com/a.png',
  ])('rejects the scheme of %s', (url) => {
    expect(rejectField({ user_prompt: PROMPT, image_url: url }, 'image_url')).toEqual([
      { field: 'image_url', message: 'URL must use http or https' },
    ]);
    rejectField({ user_prompt: PROMPT, image_end_url: url }, 'image_end_url');
  });

  it.each(['https://user:secret@example.com/a.png', 'https://user@example.com/a.png', 'http://:pw@example.com/a.png'])(
    'rejects a URL with credentials (%s)',
    (url) => {
      expect(rejectField({ user_prompt: PROMPT, image_url: url }, 'image_url')).toEqual([
        { field: 'image_url', message: 'URL must not carry credentials' },
      ]);
      rejectField({ user_prompt: PROMPT, image_end_url: url }, 'image_end_url');
    },
  );

  it('rejects a URL longer than the limit and accepts one at the limit', () => {
    const base = 'https://example.com/';
    const atLimit = base + 'a'.repeat(KEYFRAME_URL_MAX_LENGTH - base.length);
    expect(atLimit).toHaveLength(KEYFRAME_URL_MAX_LENGTH);
    expect(parseUrl(atLimit)).toEqual({ kind: 'url', url: atLimit });
    const [issue] = rejectField({ user_prompt: PROMPT, image_url: atLimit + 'a' }, 'image_url');
    expect(issue.message).toMatch(/longer than 2048/);
    rejectField({ user_prompt: PROMPT, image_end_url: atLimit + 'a' }, 'image_end_url');
  });

  it('rejects an unparsable http URL', () => {
    rejectField({ user_prompt: PROMPT, image_url: 'https://' }, 'image_url');
    rejectField({ user_prompt: PROMPT, image_url: 'http://exa mple.com/' }, 'image_url');
  });

  it('rejects text that is neither a URL nor Base64', () => {
    rejectField({ user_prompt: PROMPT, image_url: 'example.com/a.png' }, 'image_url');
  });
});

describe('generationRequestSchema: Base64 keyframes', () => {
  const IMAGES: ReadonlyArray<[string, Buffer, string, number, number]> = [
    ['PNG', PNG, 'image/png', 64, 48],
    ['JPEG', JPEG, 'image/jpeg', 320, 180],
    ['WebP', WEBP, 'image/webp', 96, 64],
  ];

  describe.each(IMAGES)('%s', (_name, bytes, type, width, height) => {
    const expected = { kind: 'inline', type, width, height };

    it('as a data URI', () => {
      const frame = accept({ user_prompt: PROMPT, image_url: `data:${type};base64,${bytes.toString('base64')}` }).image_url;
      expect(frame).toMatchObject(expected);
      expect(frame && frame.kind === 'inline' && Buffer.compare(frame.bytes, bytes)).toBe(0);
    });

    it('as bare Base64', () => {
      const frame = accept({ user_prompt: PROMPT, image_url: bytes.toString('base64') }).image_url;
      expect(frame).toMatchObject(expected);
      expect(frame && frame.kind === 'inline' && Buffer.compare(frame.bytes, bytes)).toBe(0);
    });

    it('as bare Base64url, wrapped over lines (MIME style)', () => {
      const wrapped = bytes.toString('base64').replace(/.{76}/g, '$&\r\n');
      expect(accept({ user_prompt: PROMPT, image_url: wrapped }).image_url).toMatchObject(expected);
      expect(accept({ user_prompt: PROMPT, image_url: bytes.toString('base64url') }).image_url).toMatchObject(expected);
    });

    it('as the end frame', () => {
      const frame = accept({ user_prompt: PROMPT, image_end_url: `data:${type};base64,${bytes.toString('base64')}` }).image_end_url;
      expect(frame).toMatchObject(expected);
    });
  });

  it('accepts a data URI with parameters', () => {
    const frame = accept({ user_prompt: PROMPT, image_url: `data:image/png;name=a.png;base64,${PNG.toString('base64')}` }).image_url;
    expect(frame).toMatchObject({ kind: 'inline', type: 'image/png' });
  });

  it('rejects Base64 of text', () => {
    const text = Buffer.from('This is plain text, not an image at all.').toString('base64');
    expect(rejectField({ user_prompt: PROMPT, image_url: text }, 'image_url')).toEqual([
      { field: 'image_url', message: 'Base64 data is not a PNG, JPEG or WebP image' },
    ]);
    rejectField({ user_prompt: PROMPT, image_url: `data:image/png;base64,${text}` }, 'image_url');
    rejectField({ user_prompt: PROMPT, image_end_url: text }, 'image_end_url');
  });

  it('rejects a PNG signature followed by junk', () => {
    const junk = Buffer.concat([PNG.subarray(0, 8), Buffer.from('junk junk junk junk junk junk junk junk')]);
    expect(rejectField({ user_prompt: PROMPT, image_url: junk.toString('base64') }, 'image_url')).toEqual([
      { field: 'image_url', message: 'Base64 data is not a PNG, JPEG or WebP image' },
    ]);
  });

  it('rejects a truncated image', () => {
    rejectField({ user_prompt: PROMPT, image_url: PNG.subarray(0, 20).toString('base64') }, 'image_url');
  });

  describe('data URI headers', () => {
    const HOSTILE: { cases: { name: string; head: string; repeat: string; times: number; tail: string }[] } = JSON.parse(
      readFileSync(new URL('../../fixtures/hostile/data-uri-headers.json', import.meta.url), 'utf8'),
    );
    const payload = PNG.toString('base64');
    /** A data URI whose header (between `data:` and the comma) is exactly `length` characters. */
    const headerOf = (length: number) => `image/png;a=${'b'.repeat(length - 'image/png;a=;base64'.length)};base64`;

    it.each(HOSTILE.cases.map((c) => [c.name, c] as const))('refuses %s with an issue on image_url, not an exception', (_, c) => {
      const uri = `${c.head}${c.repeat.repeat(c.times)}${c.tail}${payload}`;
      const issues = rejectField({ user_prompt: PROMPT, image_url: uri }, 'image_url');
      expect(issues[0]!.message).toMatch(/^data URI must be data:image\/<type>\[;<name>=<value>…\];base64,<data>/);
      rejectField({ user_prompt: PROMPT, image_end_url: uri }, 'image_end_url');
    });

    it('accepts a header of 256 characters, and refuses one of 257', () => {
      expect(headerOf(256)).toHaveLength(256);
      expect(accept({ user_prompt: PROMPT, image_url: `data:${headerOf(256)},${payload}` }).image_url).toMatchObject({ type: 'image/png' });
      rejectField({ user_prompt: PROMPT, image_url: `data:${headerOf(257)},${payload}` }, 'image_url');
    });

    it.each([
      ['no media type', `data:;base64,${payload}`],
      ['capitals', `DATA:IMAGE/PNG;BASE64,${payload}`],
      ['parameters with empty and odd values', `data:image/png;a=;b=x y;charset=utf-8;base64,${payload}`],
      ['a payload that is Base64 wrapped over lines', `data:image/png;base64,${payload.replace(/.{76}/g, '$&\r\n')}`],
    ])('accepts %s', (_, uri) => {
      expect(accept({ user_prompt: PROMPT, image_url: uri }).image_url).toMatchObject({ kind: 'inline', type: 'image/png' });
    });

    it.each([
      ['a parameter without a value', `data:image/png;a;base64,${payload}`],
      ['a parameter with an empty name', `data:image/png;=b;base64,${payload}`],
      [';base64 not last', `data:image/png;base64;a=b,${payload}`],
      ['a space in the media type', `data:image/ png;base64,${payload}`],
      ['a media type that is not an image', `data:text/html;base64,${payload}`],
    ])('refuses %s', (_, uri) => {
      rejectField({ user_prompt: PROMPT, image_url: uri }, 'image_url');
    });

    it('never throws on arbitrary headers', () => {
      const header = fc.array(fc.constantFrom(';', '=', ',', ' ', 'a', 'image/png', 'base64', ';base64', '\n'), { maxLength: 400 });
      fc.assert(
        fc.property(header, (parts) => {
          generationRequestSchema.safeParse({ user_prompt: PROMPT, image_url: `data:${parts.join('')},${payload}` });
        }),
        { numRuns: 500 },
      );
    });
  });

  it('rejects a data URI whose payload is not Base64', () => {
    rejectField({ user_prompt: PROMPT, image_url: 'data:image/png;base64,@@@not*base64@@@' }, 'image_url');
    rejectField({ user_prompt: PROMPT, image_url: 'data:image/png;base64,' }, 'image_url');
    rejectField({ user_prompt: PROMPT, image_url: `data:image/png,${PNG.toString('base64')}` }, 'image_url');
  });

  it('accepts an image of exactly the size limit', () => {
    const frame = accept({ user_prompt: PROMPT, image_url: pngOfSize(MAX_KEYFRAME_BYTES).toString('base64') }).image_url;
    expect(frame).toMatchObject({ kind: 'inline', type: 'image/png' });
    expect(frame && frame.kind === 'inline' && frame.bytes.length).toBe(MAX_KEYFRAME_BYTES);
  });

  it('rejects oversized Base64 by its length, before decoding', () => {
    // The padding would make a valid PNG if it were decoded: the size message, not the format one, shows
    // the length check came first. Without the check this body would be accepted.
    const oversized = pngOfSize(MAX_KEYFRAME_BYTES + 1024).toString('base64');
    const tooLarge = `image is larger than ${MAX_KEYFRAME_BYTES} bytes (1.5 MiB), the most a Base64 keyframe may weigh: upload it (POST /luma/uploads) and send the image_url it returns`;
    expect(rejectField({ user_prompt: PROMPT, image_url: oversized }, 'image_url')).toEqual([{ field: 'image_url', message: tooLarge }]);
    // Characters that merely look like Base64 are not decoded either.
    const [issue] = rejectField({ user_prompt: PROMPT, image_url: 'A'.repeat(8 * 1024 * 1024) }, 'image_url');
    expect(issue.message).toBe(tooLarge);
    rejectField({ user_prompt: PROMPT, image_end_url: oversized }, 'image_end_url');
  });

  it('rejects an image one or two bytes over the size limit', () => {
    rejectField({ user_prompt: PROMPT, image_url: pngOfSize(MAX_KEYFRAME_BYTES + 1).toString('base64') }, 'image_url');
    const unpadded = pngOfSize(MAX_KEYFRAME_BYTES + 2).toString('base64').replace(/=+$/, '');
    rejectField({ user_prompt: PROMPT, image_url: unpadded }, 'image_url');
  });
});

describe('describeIssues', () => {
  it('gives one {field, message} pair per problem, naming each field', () => {
    const issues = reject({ user_prompt: 'ab', loop: 'yes', aspect_ratio: '2:1', image_url: 'ftp://x.example/a' });
    expect([...issues].sort((a, b) => a.field.localeCompare(b.field))).toStrictEqual([
      { field: 'aspect_ratio', message: 'must be one of 1:1, 4:3, 3:4, 16:9, 9:16, 21:9, 9:21' },
      { field: 'image_url', message: 'URL must use http or https' },
      { field: 'loop', message: expect.stringMatching(/expected boolean/) }, // zod's own words
      { field: 'user_prompt', message: 'must be 3 to 5000 characters' },
    ]);
  });

  it('names the body itself when it is not an object', () => {
    const result = generationRequestSchema.safeParse('just a string');
    expect(result.success).toBe(false);
    if (!result.success) expect(describeIssues(result.error)).toEqual([{ field: '(body)', message: expect.any(String) }]);
  });
});

describe('generationRequestSchema: property', () => {
  const ratioLike = fc.oneof(fc.constantFrom(...LUMA_ASPECT_RATIOS), fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 }));
  const promptLike = fc.oneof(
    fc.string({ maxLength: 8 }),
    fc.string({ unit: fc.constantFrom(' ', '\t', '\n', 'a', 'é', '😀'), minLength: 0, maxLength: 12 }),
    fc.integer({ min: 0, max: 5010 }).map((n) => ' '.repeat(n % 3) + 'p'.repeat(n) + ' '.repeat(n % 2)),
    fc.jsonValue({ maxDepth: 1 }),
  );
  const keyframeLike = fc.oneof(
    fc.constantFrom('https://example.com/a.png', PNG.toString('base64'), false, true, null, ''),
    fc.string({ maxLength: 10 }),
    fc.jsonValue({ maxDepth: 1 }),
  );
  const bodyLike = fc.oneof(
    fc.jsonValue(),
    fc.record(
      {
        user_prompt: promptLike,
        expand_prompt: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 0 })),
        loop: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 0 })),
        image_url: keyframeLike,
        image_end_url: keyframeLike,
        aspect_ratio: ratioLike,
        extra: fc.jsonValue({ maxDepth: 1 }),
      },
      { requiredKeys: [] },
    ),
  );

  it('any JSON value either fails with issues or yields a 3..5000-character prompt and a valid aspect ratio', () => {
    fc.assert(
      fc.property(bodyLike, (body) => {
        const result = generationRequestSchema.safeParse(body);
        if (!result.success) {
          const issues = describeIssues(result.error);
          expect(issues.length).toBeGreaterThan(0);
          for (const issue of issues) expect(issue.field.length).toBeGreaterThan(0);
          return;
        }
        const { user_prompt, aspect_ratio, loop, image_end_url } = result.data;
        expect(typeof user_prompt).toBe('string');
        expect(user_prompt.length).toBeGreaterThanOrEqual(PROMPT_MIN_LENGTH);
        expect(user_prompt.length).toBeLessThanOrEqual(PROMPT_MAX_LENGTH);
        expect(user_prompt).toBe(user_prompt.trim());
        if (aspect_ratio !== undefined) expect(LUMA_ASPECT_RATIOS).toContain(aspect_ratio);
        expect(loop === true && image_end_url !== undefined).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

describe('prompt text', () => {
  it('turns lone surrogates into U+FFFD, keeping the length', () => {
    const parsed = generationRequestSchema.parse({ user_prompt: 'cat \ud800 dog' });
    expect(parsed.user_prompt).toBe('cat \ufffd dog');
    expect(parsed.user_prompt.isWellFormed()).toBe(true);
  });
});
