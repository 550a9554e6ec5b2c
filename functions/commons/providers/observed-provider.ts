/**
 * A provider as the gateway calls it: every call that meets the upstream's 429 ("too many requests") is
 * counted (the `upstream_429` metric), and, where the function traces (observability/tracer.ts), each call
 * is a subsegment of its own. The provider itself stays unaware of either.
 */
import { TransientUpstreamError } from '../errors.ts';
import { recordMetric } from '../observability/metrics.ts';
import type { VideoProvider } from '../ports/video-provider.ts';

/** Runs `call` as a traced span named `name`. */
export type TraceCall = <T>(name: string, call: () => Promise<T>) => Promise<T>;

export function observedProvider(provider: VideoProvider, trace?: TraceCall): VideoProvider {
  const observe = async <T>(operation: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await (trace ? trace(`${provider.name} ${operation}`, call) : call());
    } catch (error) {
      if (error instanceof TransientUpstreamError && error.rateLimited) recordMetric('upstream429');
      throw error;
    }
  };
  return {
    name: provider.name,
    model: provider.model,
    submit: (request) => observe('submit', () => provider.submit(request)),
    get: (upstreamId) => observe('get', () => provider.get(upstreamId)),
    findByMarker: (marker, since) => observe('list', () => provider.findByMarker(marker, since)),
    delete: (upstreamId) => observe('delete', () => provider.delete(upstreamId)),
  };
}
