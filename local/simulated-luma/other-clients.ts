/**
 * The other clients of the shared Luma account (another app, the web app, another gateway on the same
 * key): what they already made when the simulator starts, and the twin each of our creates gets. Pure.
 *
 * Their prompts are the common ones, README and test prompts included, so that a gateway which finds
 * "its" generation in the account-wide list by comparing prompts meets a stranger's generation.
 */
import type { LumaEchoedRequest, LumaKeyframes, LumaRequestFields } from './contract.ts';
import { withLumaDefaults } from './contract.ts';

/** The README's example prompt, exactly. */
export const README_PROMPT = 'Cinematic shot of a tranquil indoor pool room. A graceful pink flamingo stands in clear turquoise water.';
/** Another client's callback receiver: not loopback, so never contacted. */
export const OTHER_CLIENT_CALLBACK_URL = 'https://hooks.other-client.example/luma';
/** Another client's keyframe links: never fetched. */
export const OTHER_CLIENT_FRAME_URLS = {
  frame0: 'https://cdn.other-client.example/frame.png',
  frame1: 'https://cdn.other-client.example/frame-end.png',
} as const;

type HistoryEntry = { minutesAgo: number; request: Omit<LumaRequestFields, 'model'> & { model?: LumaRequestFields['model'] } };

const frame = (name: keyof typeof OTHER_CLIENT_FRAME_URLS) => ({ type: 'image' as const, url: OTHER_CLIENT_FRAME_URLS[name] });

/**
 * The account's history at start: 20 completed generations by other clients, spread over the last hour
 * (`minutesAgo` before the start, on top of one whole timeline so they are finished at any time scale).
 */
export const OTHER_CLIENTS_HISTORY: readonly HistoryEntry[] = [
  { minutesAgo: 57, request: { prompt: README_PROMPT } },
  { minutesAgo: 55, request: { prompt: 'hello world video' } },
  { minutesAgo: 52, request: { prompt: 'A flamingo', callback_url: OTHER_CLIENT_CALLBACK_URL } },
  { minutesAgo: 49, request: { prompt: 'a cat playing piano', aspect_ratio: '1:1' } },
  { minutesAgo: 46, request: { prompt: README_PROMPT, keyframes: { frame0: frame('frame0') }, callback_url: OTHER_CLIENT_CALLBACK_URL } },
  { minutesAgo: 44, request: { prompt: 'A timelapse of a city skyline at night', model: 'ray-flash-2' } },
  { minutesAgo: 41, request: { prompt: 'A flamingo', keyframes: { frame0: frame('frame0') } } },
  { minutesAgo: 38, request: { prompt: 'Ocean waves crashing on a rocky shore at sunset', resolution: '1080p' } },
  { minutesAgo: 35, request: { prompt: 'hello world video', callback_url: OTHER_CLIENT_CALLBACK_URL } },
  { minutesAgo: 33, request: { prompt: 'a cat playing piano', loop: true } },
  {
    minutesAgo: 30,
    request: {
      prompt:
        'Cinematic shot of a tranquil indoor pool room. A graceful pink flamingo stands in clear turquoise water, creating subtle ripples.',
      keyframes: { frame0: frame('frame0') },
    },
  },
  { minutesAgo: 27, request: { prompt: 'A golden retriever running on the beach', aspect_ratio: '9:16' } },
  { minutesAgo: 24, request: { prompt: 'A flamingo', keyframes: { frame0: frame('frame0'), frame1: frame('frame1') } } },
  { minutesAgo: 21, request: { prompt: README_PROMPT, aspect_ratio: '16:9', loop: false } },
  { minutesAgo: 18, request: { prompt: 'Drone shot over a misty pine forest', duration: '9s', model: 'ray-flash-2' } },
  { minutesAgo: 15, request: { prompt: 'a cat playing piano', callback_url: OTHER_CLIENT_CALLBACK_URL } },
  { minutesAgo: 12, request: { prompt: 'hello world video', aspect_ratio: '9:16' } },
  { minutesAgo: 9, request: { prompt: 'A paper boat drifting down a rainy street' } },
  { minutesAgo: 6, request: { prompt: 'A flamingo', callback_url: OTHER_CLIENT_CALLBACK_URL } },
  { minutesAgo: 3, request: { prompt: README_PROMPT, keyframes: { frame0: frame('frame0') } } },
];

export function historyRequest(entry: HistoryEntry): LumaEchoedRequest {
  return withLumaDefaults({ model: 'ray-2', ...entry.request });
}

/**
 * The request another client makes at the same moment as ours: the same parameters, but none of our
 * links — no callback_url of ours (none, or theirs, alternating with `n`) and their own keyframe images.
 */
export function twinRequest(ours: LumaEchoedRequest, n: number): LumaEchoedRequest {
  return {
    ...ours,
    callback_url: n % 2 === 0 ? null : OTHER_CLIENT_CALLBACK_URL,
    keyframes: ours.keyframes && otherFrames(ours.keyframes),
  };
}

function otherFrames(keyframes: LumaKeyframes): LumaKeyframes {
  const frames: LumaKeyframes = {};
  if (keyframes.frame0) frames.frame0 = frame('frame0');
  if (keyframes.frame1) frames.frame1 = frame('frame1');
  return frames;
}
