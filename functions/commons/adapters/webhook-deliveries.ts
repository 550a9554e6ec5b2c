/**
 * The delivery workflow as a Step Functions state machine (ports/webhook-deliveries.ts): one execution per
 * run, named after the delivery (`msg_<task>_<n>`, then `…-r2` for a retry), so a publication repeated
 * after a crash starts nothing twice: Step Functions refuses a second execution of a name.
 */
import { ExecutionAlreadyExists, StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { DeliveryRunInput, WebhookDeliveries } from '../ports/webhook-deliveries.ts';
import { runName } from './workflow.ts';

export class StepFunctionsWebhookDeliveries implements WebhookDeliveries {
  constructor(
    private readonly client: SFNClient,
    private readonly stateMachineArn: string,
  ) {}

  async start(input: DeliveryRunInput): Promise<void> {
    try {
      await this.client.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: runName(input.deliveryId, input.run),
          input: JSON.stringify(input),
        }),
      );
    } catch (error) {
      if (!(error instanceof ExecutionAlreadyExists)) throw error;
    }
  }
}
