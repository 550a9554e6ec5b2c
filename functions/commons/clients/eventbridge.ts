import { EventBridgeClient } from '@aws-sdk/client-eventbridge';

/**
 * Publishing follows a change that is already recorded, and an unpublished change is published again by
 * the reconciler: so an EventBridge that does not answer must not hold the function up for long.
 */
export const eventBridge = new EventBridgeClient({ maxAttempts: 2, requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000 } });
