/**
 * Least-privilege grants, narrower than CDK's `grantReadWriteData`/`grantReadWrite`: each function gets
 * exactly the item and object actions its code performs, on the prefixes it uses.
 */
import { Stack } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import { acknowledge, resourceFinding } from '../nag.ts';
import { QUEUE_INDEX } from '../../functions/commons/adapters/queue-index.ts';
import { OWNER_INDEX, PHASE_INDEX } from '../../functions/commons/adapters/task-store.ts';

/** What a function does with the table beyond reading single items. */
export interface TableAccess {
  /**
   * Item kinds (key prefixes) the function writes whole with PutItem: `TASK` (every function moves tasks
   * on, with a conditional put of the whole item), `IDEMPOTENCY` (the API's claims), `UPSTREAM` (the
   * upstream's generations as the API's and the poll's submits record them), `UPLOAD` (the API's record of
   * each upload it hands out), `STATS` (recent generation times, which adaptive polling learns). Fenced by
   * `dynamodb:LeadingKeys`, so a function, the copy that parses the upstream's bytes included, cannot
   * write an API key, a slot or a counter whole.
   */
  readonly puts: readonly string[];
  /**
   * Item kinds (key prefixes) the function may change in place with UpdateItem: `SLOT` and `RATE`
   * (upstream capacity), `OWNER` (an owner's queue counters), `KEYRATE` (a key's create rate), `APIKEY`
   * (a key's last use). The condition on `dynamodb:LeadingKeys` keeps UpdateItem off every other item.
   */
  readonly updates?: readonly string[];
  /**
   * Item kinds the function may delete with DeleteItem: `IDEMPOTENCY` (the API releases the claim of a
   * request it refused with a 429 or could not serve), `TASK` (the API deletes a finished task for its
   * owner). Fenced by `dynamodb:LeadingKeys` like UpdateItem.
   */
  readonly deletes?: readonly string[];
  /**
   * Takes, gives back and hands on upstream slots (the dispatcher): reads the slots and the waiting owners'
   * items in batches (BatchGetItem), the owners' queues on the `byQueue` index (Query), and takes the
   * dispatch lease (UpdateItem on `DISPATCH#…`, added to `updates`).
   */
  readonly capacity?: boolean;
  /** Lists unfinished tasks by phase on the `byPhase` index: the reconciler's work list. */
  readonly phases?: boolean;
  /**
   * Lists an owner's tasks on the `byOwner` index (Query) and reads the page's tasks in batches
   * (BatchGetItem): the API's list.
   */
  readonly ownerTasks?: boolean;
}

/**
 * Least privilege on the table, in one statement per kind of access. GetItem reaches the whole table (reads
 * are scoped by owner in the code); every item write (PutItem, UpdateItem, DeleteItem) is its own statement,
 * conditioned on `dynamodb:LeadingKeys`: only the item kinds the function's code writes that way.
 */
export function grantTable(fn: IFunction, table: ITableV2, access: TableAccess): void {
  fn.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [table.tableArn] }));
  fn.addToRolePolicy(fencedItemAction('dynamodb:PutItem', table, access.puts));
  if (access.capacity || access.ownerTasks) {
    fn.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:BatchGetItem'], resources: [table.tableArn] }));
  }
  if (access.capacity) {
    fn.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${table.tableArn}/index/${QUEUE_INDEX}`] }));
  }
  if (access.phases) {
    fn.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${table.tableArn}/index/${PHASE_INDEX}`] }));
  }
  if (access.ownerTasks) {
    fn.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${table.tableArn}/index/${OWNER_INDEX}`] }));
  }
  const updates = [...(access.updates ?? []), ...(access.capacity ? ['DISPATCH'] : [])];
  if (updates.length) fn.addToRolePolicy(fencedItemAction('dynamodb:UpdateItem', table, updates));
  if (access.deletes?.length) fn.addToRolePolicy(fencedItemAction('dynamodb:DeleteItem', table, access.deletes));
}

/**
 * `states:StartExecution` on the generation workflow, named by the ARN its literal name gives
 * (GenerationWorkflow.stateMachineArnOf), not by a reference to the state machine: a function that the
 * state machine invokes cannot depend on the state machine itself (CloudFormation refuses the cycle).
 */
export function grantStartExecution(fn: IFunction, stateMachineArn: string): void {
  fn.addToRolePolicy(new PolicyStatement({ actions: ['states:StartExecution'], resources: [stateMachineArn] }));
}

/**
 * `states:SendTaskSuccess` on the generation workflow: ends one of its waits with the task token the wait
 * was given (functions/commons/adapters/workflow.ts). Only success: the gateway never reports a wait as
 * failed, nor sends heartbeats. Named by the literal ARN, as for StartExecution (the Poll it is granted to
 * is invoked by the state machine).
 */
export function grantWake(fn: IFunction, stateMachineArn: string): void {
  fn.addToRolePolicy(new PolicyStatement({ actions: ['states:SendTaskSuccess'], resources: [stateMachineArn] }));
}

/** `events:PutEvents` on the one bus the gateway publishes to (infra/constructs/generation-events.ts). */
export function grantPutEvents(fn: IFunction, bus: IEventBus): void {
  fn.addToRolePolicy(new PolicyStatement({ actions: ['events:PutEvents'], resources: [bus.eventBusArn] }));
}

/** One item action on the items whose key starts with one of `kinds` (`SLOT` → `SLOT#*`), in a statement of its own. */
function fencedItemAction(action: string, table: ITableV2, kinds: readonly string[]): PolicyStatement {
  return new PolicyStatement({
    actions: [action],
    resources: [table.tableArn],
    conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': kinds.map((kind) => `${kind}#*`) } },
  });
}

/**
 * Object actions on one key prefix of the bucket (`inputs/*`, `generations/*`). Object keys are task ids
 * chosen at run time, so the grant is a prefix wildcard: acknowledged for cdk-nag (AwsSolutions-IAM5) for
 * exactly this ARN and nothing else.
 */
export function grantObjects(fn: IFunction, bucket: IBucket, actions: string[], keyPattern: string): void {
  const objects = bucket.arnForObjects(keyPattern);
  fn.addToRolePolicy(new PolicyStatement({ actions, resources: [objects] }));
  if (fn.role) {
    acknowledge(
      fn.role,
      'IAM5',
      `Object-level prefix: the function uses ${actions.join(', ')} only on keys under ${keyPattern}, whose names hold task ids known only at run time.`,
      [resourceFinding(fn.role, objects)],
    );
  }
}

/**
 * Only the secret's value: `ISecret.grantRead` would add DescribeSecret, which the code never calls. A
 * secret known by its partial ARN is granted with the 6 characters Secrets Manager appends as a wildcard,
 * as CDK itself does. A customer KMS key of the secret is granted for decryption by Secrets Manager on the
 * function's behalf only (`kms:ViaService`), never for direct use.
 */
export function grantSecretValue(fn: IFunction, secret: ISecret): void {
  const resource = secret.secretFullArn ? secret.secretArn : `${secret.secretArn}-??????`;
  fn.addToRolePolicy(new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [resource] }));
  if (secret.encryptionKey) {
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [secret.encryptionKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(fn).region}.amazonaws.com` } },
      }),
    );
  }
}
