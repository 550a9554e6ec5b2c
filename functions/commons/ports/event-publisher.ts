/**
 * Where the gateway's events go: EventBridge (adapters/event-publisher.ts; `npm start` answers its API
 * and writes LOCAL_DATA_DIR/events.jsonl). At least once: an event may be published again after a crash.
 */
import type { GenerationEvent } from '../domain/generation-events.ts';

export interface EventPublisher {
  /** Publishes every event, or throws: then some may have been published, and all are published again later. */
  publish(events: readonly GenerationEvent[]): Promise<void>;
}
