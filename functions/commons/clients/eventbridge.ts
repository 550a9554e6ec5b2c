import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { lazyClient } from './lazy-client.ts';

/**
 * Publishing follows a change that is already recorded, and an unpublished change is published again by
 * the reconciler: so an EventBridge that does not answer must not hold the function up for long. Built on
 * first use: most invocations change no task's public status.
 */
export const eventBridge = /* @__PURE__ */ lazyClient(
  () => new EventBridgeClient({ maxAttempts: 2, requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000 } }),
);
