/** The gateway's events on an EventBridge bus (ports/event-publisher.ts): PutEvents, ten entries a call. */
import { PutEventsCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { EVENT_SOURCE, type GenerationEvent } from '../domain/generation-events.ts';
import type { EventPublisher } from '../ports/event-publisher.ts';

/** PutEvents takes at most ten entries a call. */
const ENTRIES_PER_CALL = 10;

export class EventBridgePublisher implements EventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    /** A bus's name or ARN; `default` is the account's default bus. */
    private readonly eventBusName: string,
  ) {}

  async publish(events: readonly GenerationEvent[]): Promise<void> {
    for (let start = 0; start < events.length; start += ENTRIES_PER_CALL) {
      const batch = events.slice(start, start + ENTRIES_PER_CALL);
      const answer = await this.client.send(
        new PutEventsCommand({
          Entries: batch.map((event) => ({
            EventBusName: this.eventBusName,
            Source: EVENT_SOURCE,
            DetailType: event.detailType,
            Detail: JSON.stringify(event.detail),
            Time: new Date(event.time),
          })),
        }),
      );
      // PutEvents answers 200 with per-entry failures: any failed entry means the batch is owed again.
      if (answer.FailedEntryCount) {
        const codes = [...new Set((answer.Entries ?? []).map((entry) => entry.ErrorCode).filter(Boolean))].join(', ');
        throw new Error(`EventBridge refused ${answer.FailedEntryCount} of ${batch.length} events (${codes || 'no code'}).`);
      }
    }
  }
}
