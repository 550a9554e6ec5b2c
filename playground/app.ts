/**
 * The playground: a page served by the gateway itself (same origin as the API, so no CORS), using the
 * package's own client. The key lives in sessionStorage only. The form's choices come from the gateway's
 * OpenAPI document, so only what this deployment offers is shown, with its defaults preselected.
 */
import { LumaVideoClient } from '../client/src/client.ts';
import { LumaVideoApiError } from '../client/src/errors.ts';
import type { Generation, GenerationRequest } from '../client/src/types.ts';
import { renderCard, updateStatus } from './gallery.ts';

const KEY_STORAGE = 'luma-video-gateway.key';
const MINE_STORAGE = 'luma-video-gateway.generations';
/** A keyframe this small may travel inline when the bucket will not take this page's upload (no CORS rule for it). */
const INLINE_KEYFRAME_MAX_BYTES = 1_572_864;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const base = new URL('.', location.href).href;
const known = new Map<string, Generation>();
const watching = new Map<string, AbortController>();
let client: LumaVideoClient | undefined;

function say(id: string, text: string, isError = false): void {
  const node = $(id);
  node.textContent = text;
  node.classList.toggle('error', isError);
}

function describe(error: unknown): string {
  if (error instanceof LumaVideoApiError) {
    const details = Array.isArray(error.details) ? error.details.map((d: { field: string; message: string }) => ` ${d.field}: ${d.message}.`).join('') : '';
    return `${error.message}${details}`;
  }
  return error instanceof Error ? error.message : String(error);
}

// ---- the key ------------------------------------------------------------------------------------------

function useKey(key: string | null): void {
  client = key ? new LumaVideoClient({ baseUrl: base, apiKey: key }) : undefined;
  $<HTMLButtonElement>('generate').disabled = !client;
  $<HTMLButtonElement>('refresh').disabled = !client;
  for (const controller of watching.values()) controller.abort();
  watching.clear();
  known.clear();
  $('gallery').replaceChildren();
  if (client) void refreshGallery();
  else say('gallery-status', 'Enter your key to see your generations.');
}

$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const key = $<HTMLInputElement>('api-key').value.trim();
  if (!key) return;
  sessionStorage.setItem(KEY_STORAGE, key);
  say('key-status', 'Key set for this tab.');
  useKey(key);
});

$('forget-key').addEventListener('click', () => {
  sessionStorage.removeItem(KEY_STORAGE);
  sessionStorage.removeItem(MINE_STORAGE);
  $<HTMLInputElement>('api-key').value = '';
  say('key-status', 'Key forgotten.');
  useKey(null);
});

// ---- the form -----------------------------------------------------------------------------------------

async function loadChoices(): Promise<void> {
  const fill = (id: string, values: string[], chosen?: string, emptyLabel?: string) => {
    const select = $<HTMLSelectElement>(id);
    select.replaceChildren();
    if (emptyLabel) select.append(new Option(emptyLabel, ''));
    for (const value of values) select.append(new Option(value, value, false, value === chosen));
  };
  let properties: Record<string, { enum?: string[]; default?: string }> = {};
  try {
    const document = (await (await fetch(new URL('openapi.json', base))).json()) as {
      components: { schemas: { GenerationRequest: { properties: typeof properties } } };
    };
    properties = document.components.schemas.GenerationRequest.properties;
  } catch {
    // Without the document the gateway's defaults apply: the selects offer only "default".
  }
  fill('aspect', properties.aspect_ratio?.enum ?? [], undefined, 'Default (16:9)');
  fill('resolution', properties.resolution?.enum ?? [], properties.resolution?.default, properties.resolution?.enum ? undefined : 'Default');
  fill('duration', properties.duration?.enum ?? [], properties.duration?.default, properties.duration?.enum ? undefined : 'Default');
}

/** A chosen file as an `image_url`: uploaded through `/luma/uploads`, or inline when the bucket refuses this page. */
async function keyframe(input: HTMLInputElement, label: string): Promise<string | undefined> {
  const file = input.files?.[0];
  if (!file || !client) return undefined;
  say('form-status', `Uploading the ${label} (${Math.ceil(file.size / 1024)} KiB)…`);
  try {
    return (await client.upload(file)).image_url;
  } catch (error) {
    // fetch's TypeError: the bucket's CORS rules do not name this page's origin, so the browser stopped the PUT.
    if (!(error instanceof TypeError) || file.size > INLINE_KEYFRAME_MAX_BYTES) {
      throw new Error(
        `The ${label} could not be uploaded (${describe(error)}). For images over 1.5 MiB, add this page's origin (${location.origin}) to the gateway's corsAllowedOrigins (CORS_ALLOWED_ORIGINS for npm start).`,
      );
    }
    const bytes = new Uint8Array(await file.arrayBuffer());
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return `data:${file.type || 'image/png'};base64,${btoa(binary)}`;
  }
}

$('generate-form').addEventListener('submit', (event) => {
  event.preventDefault();
  void generate();
});

async function generate(): Promise<void> {
  if (!client) return say('form-status', 'Enter your key first.', true);
  const button = $<HTMLButtonElement>('generate');
  button.disabled = true;
  try {
    const request: GenerationRequest = { user_prompt: $<HTMLTextAreaElement>('prompt').value };
    const aspect = $<HTMLSelectElement>('aspect').value;
    const resolution = $<HTMLSelectElement>('resolution').value;
    const duration = $<HTMLSelectElement>('duration').value;
    if (aspect) request.aspect_ratio = aspect as GenerationRequest['aspect_ratio'];
    if (resolution) request.resolution = resolution as GenerationRequest['resolution'];
    if (duration) request.duration = duration as GenerationRequest['duration'];
    const start = await keyframe($<HTMLInputElement>('start-image'), 'start image');
    const end = await keyframe($<HTMLInputElement>('end-image'), 'end image');
    if (start) request.image_url = start;
    if (end) request.image_end_url = end;
    say('form-status', 'Sending…');
    const generation = await client.createGeneration(request);
    remember(generation.id);
    show(generation, true);
    say('form-status', `Created ${generation.id}.`);
    say('gallery-status', '');
  } catch (error) {
    say('form-status', describe(error), true);
  } finally {
    button.disabled = !client;
  }
}

// ---- the gallery --------------------------------------------------------------------------------------

function mine(): string[] {
  return JSON.parse(sessionStorage.getItem(MINE_STORAGE) ?? '[]') as string[];
}

function remember(id: string): void {
  sessionStorage.setItem(MINE_STORAGE, JSON.stringify([id, ...mine().filter((other) => other !== id)].slice(0, 100)));
}

function forget(id: string): void {
  sessionStorage.setItem(MINE_STORAGE, JSON.stringify(mine().filter((other) => other !== id)));
}

const actions = {
  cancel: (id: string) => void act(id, 'Cancelling', async (c) => show(await c.cancel(id))),
  remove: (id: string) =>
    void act(id, 'Deleting', async (c) => {
      await c.delete(id);
      watching.get(id)?.abort();
      known.delete(id);
      forget(id);
      document.querySelector(`li[data-id="${CSS.escape(id)}"]`)?.remove();
      say('gallery-status', 'Deleted.');
    }),
};

async function act(id: string, doing: string, run: (client: LumaVideoClient) => Promise<unknown>): Promise<void> {
  if (!client) return;
  say('gallery-status', `${doing} ${id}…`);
  try {
    await run(client);
    if (doing === 'Cancelling') say('gallery-status', 'Cancelled.');
  } catch (error) {
    say('gallery-status', describe(error), true);
  }
}

/** Puts the generation's card in the gallery (newest first) and, while it is unfinished, follows it. */
function show(generation: Generation, prepend = false): void {
  known.set(generation.id, generation);
  const gallery = $('gallery');
  const existing = gallery.querySelector<HTMLLIElement>(`li[data-id="${CSS.escape(generation.id)}"]`) ?? undefined;
  const card = renderCard(existing, generation, actions);
  if (!existing) (prepend ? gallery.prepend(card) : gallery.append(card));
  if ((generation.state === 'pending' || generation.state === 'processing') && !watching.has(generation.id) && client) {
    const controller = new AbortController();
    watching.set(generation.id, controller);
    client
      .waitForCompletion(generation, { signal: controller.signal, onProgress: ({ generation: now }) => show(now) })
      .catch((error: unknown) => controller.signal.aborted || say('gallery-status', describe(error), true))
      .finally(() => watching.delete(generation.id));
  }
}

async function refreshGallery(): Promise<void> {
  if (!client) return;
  say('gallery-status', 'Loading…');
  try {
    const page = await client.listGenerations({ limit: 24 });
    for (const generation of page.data) show(generation);
    say('gallery-status', page.data.length === 0 ? 'No generations yet.' : '');
  } catch (error) {
    // A gateway without the list route (405): the generations made in this tab stand in for it.
    if (!(error instanceof LumaVideoApiError && (error.status === 405 || error.status === 404))) {
      return say('gallery-status', describe(error), error instanceof LumaVideoApiError && error.status === 401);
    }
    const ids = mine();
    for (const id of ids) {
      try {
        show(await client.getGeneration(id));
      } catch {
        forget(id);
      }
    }
    say('gallery-status', ids.length === 0 ? 'No generations made in this tab yet.' : 'Showing the generations made in this tab.');
  }
}

$('refresh').addEventListener('click', () => void refreshGallery());

// The elapsed time of unfinished generations, between polls.
setInterval(() => {
  for (const [id, generation] of known) {
    if (generation.state !== 'pending' && generation.state !== 'processing') continue;
    const card = document.querySelector<HTMLElement>(`li[data-id="${CSS.escape(id)}"]`);
    if (card) updateStatus(card, generation);
  }
}, 1000);

void loadChoices();
const saved = sessionStorage.getItem(KEY_STORAGE);
if (saved) $<HTMLInputElement>('api-key').value = saved;
useKey(saved);
if (!saved) $('api-key').focus();
