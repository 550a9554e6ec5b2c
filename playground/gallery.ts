/**
 * One card per generation: its prompt, its live state (queue position, elapsed), the video playing inline
 * with its download link once stored, and the cancel or delete it allows. Built with DOM calls and
 * textContent only: a prompt is text, never markup.
 */
import type { Generation } from '../client/src/types.ts';

export interface CardActions {
  cancel(id: string): void;
  remove(id: string): void;
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function elapsedText(createdAt: string, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(createdAt)) / 1000));
  return seconds < 90 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

const STATE_WORDS: Record<Generation['state'], string> = {
  pending: 'Pending',
  processing: 'Generating',
  completed: 'Completed',
  failed: 'Failed',
};

export function statusText(generation: Generation): string {
  if (generation.failure_code === 'cancelled') return 'Cancelled';
  if (generation.queue_state === 'queued' && generation.queue_position) return `Queued: #${generation.queue_position} of yours`;
  return STATE_WORDS[generation.state];
}

/** A new card, or the existing one brought up to date. */
export function renderCard(existing: HTMLLIElement | undefined, generation: Generation, actions: CardActions): HTMLLIElement {
  const card = existing ?? element('li', 'card');
  card.dataset.id = generation.id;
  card.dataset.state = generation.state;
  const finished = generation.state === 'completed' || generation.state === 'failed';
  // A playing video is left alone: rebuilding it would restart it on every poll.
  const playing = card.querySelector('video');
  if (playing && generation.state === 'completed') {
    updateStatus(card, generation);
    return card;
  }
  card.replaceChildren();
  card.setAttribute('aria-label', `Generation: ${generation.prompt}`);

  const media = element('div', 'media');
  if (generation.state === 'completed' && generation.video) {
    const video = element('video', 'video');
    video.src = generation.video.url;
    if (generation.thumbnail) video.poster = generation.thumbnail.url;
    video.controls = true;
    video.muted = true;
    video.loop = true;
    video.playsInline = true;
    video.autoplay = true;
    video.preload = 'auto';
    video.setAttribute('aria-label', `Video: ${generation.prompt}`);
    media.append(video);
  } else {
    media.append(element('div', `placeholder ${generation.state}`, generation.state === 'failed' ? '✕' : '…'));
  }
  card.append(media);

  const body = element('div', 'card-body');
  body.append(element('p', 'prompt', generation.prompt));
  const status = element('p', 'status');
  status.setAttribute('role', 'status');
  body.append(status);
  const meta = [generation.aspect_ratio, generation.resolution, generation.duration].filter(Boolean).join(' · ');
  if (meta) body.append(element('p', 'meta', meta));
  if (generation.state === 'failed') {
    body.append(element('p', 'failure', `${generation.failure_code ?? 'failed'}: ${generation.failure_reason ?? 'no reason given'}`));
  }

  const buttons = element('div', 'actions');
  if (generation.state === 'completed' && generation.video) {
    const link = element('a', 'download', 'Download MP4');
    link.href = generation.video.download_url;
    link.setAttribute('download', `${generation.id}.mp4`);
    buttons.append(link);
  }
  if (!finished) {
    const cancel = element('button', 'cancel', 'Cancel');
    cancel.type = 'button';
    cancel.setAttribute('aria-label', `Cancel: ${generation.prompt}`);
    cancel.addEventListener('click', () => actions.cancel(generation.id));
    buttons.append(cancel);
  } else {
    const remove = element('button', 'delete', 'Delete');
    remove.type = 'button';
    remove.setAttribute('aria-label', `Delete: ${generation.prompt}`);
    remove.addEventListener('click', () => actions.remove(generation.id));
    buttons.append(remove);
  }
  body.append(buttons);
  card.append(body);
  updateStatus(card, generation);
  return card;
}

/** The state line: what it is doing, and for how long (live while unfinished). */
export function updateStatus(card: HTMLElement, generation: Generation, now = Date.now()): void {
  const status = card.querySelector<HTMLElement>('.status');
  if (!status) return;
  const finished = generation.state === 'completed' || generation.state === 'failed';
  const clock = finished ? new Date(generation.created_at).toLocaleString() : `${elapsedText(generation.created_at, now)} elapsed`;
  status.textContent = `${statusText(generation)} · ${clock}`;
}
