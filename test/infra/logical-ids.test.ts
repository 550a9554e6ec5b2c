/**
 * The logical ids of the resources that hold state, or a name of their own, are pinned: CloudFormation
 * replaces a resource whose logical id changes. A retained table or bucket would be replaced by a new, empty
 * one (the old one left behind, no longer the stack's); a secret would lose the key put in it; a resource with a
 * fixed name (the state machine, two log groups) would fail the update, its name being taken by the old one.
 *
 * These are the ids the stack had when it held the constructs directly, before LumaVideoGateway: the stack
 * instantiates the gateway with the id `Default`, which CDK leaves out of logical ids. (The construct paths did
 * change, and with them, under `cdk synth`, which records each resource's path, the id of the REST API's
 * Deployment, a hash that takes in the REST API's definition: a deployment is a snapshot CDK replaces whenever
 * the API changes, and the stage moves to the new one.)
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayStack } from '../../infra/gateway-stack.ts';
import { logicalIdOf, removeOutdirs, synthesize } from './support/synth.ts';
import type { Resources } from './support/template.ts';

/** Every resource of these types, by logical id. */
const PINNED: Record<string, Record<string, string>> = {
  'AWS::DynamoDB::GlobalTable': { StorageTableB43FDCE7: 'the task table (retained)' },
  'AWS::S3::Bucket': {
    StorageBucket5CB7C8EA: 'the video bucket (retained)',
    StorageAccessLogBucket76E80A12: 'the access-log bucket (retained)',
  },
  'AWS::SecretsManager::Secret': { UpstreamKeyBB883468: 'the upstream key, which the operator puts in it' },
  'AWS::StepFunctions::StateMachine': {
    WorkflowStateMachine8F1B1C15: 'the state machine (named after the stack)',
    EventsDeliveryStateMachine0F74A13E: 'the webhook delivery workflow (named after the stack)',
  },
  'AWS::Logs::LogGroup': {
    WorkflowStateMachineLogs25053C9F: 'the state machine’s logs (named)',
    ApiExecutionLogsB326CF6B: 'the stage’s execution logs (named by API Gateway’s convention)',
    ApiAccessLogs50B185DB: 'the stage’s access logs',
    ApiApiFunctionLogs7088A5F1: 'the API function’s logs',
    WorkflowPollFunctionLogsB4797B16: 'the poll function’s logs',
    WorkflowCopyFunctionLogsC20891C7: 'the copy function’s logs',
    WorkflowRecordFailureFunctionLogs707D5E87: 'the record-failure function’s logs',
    WorkflowReconcileFunctionLogsD84C95F6: 'the reconcile function’s logs',
    EventsDeliveryStateMachineLogsD94A8B07: 'the webhook delivery workflow’s logs (named)',
    EventsDeliverWebhookFunctionLogsD77C8779: 'the deliver-webhook function’s logs',
  },
  'AWS::ApiGateway::Account': { ApiApiGatewayAccount399AEF68: 'the account’s API Gateway logging setting (retained)' },
};
/** What the stack keeps when it is deleted (or a replacement leaves behind). */
const RETAINED = [
  'StorageTableB43FDCE7',
  'StorageBucket5CB7C8EA',
  'StorageAccessLogBucket76E80A12',
  'ApiApiGatewayAccount399AEF68',
  'ApiApiGatewayCloudWatchRoleA24215BB',
];

let stack: GatewayStack;
let template: Template;
let resources: Resources;

beforeAll(() => {
  ({ stack, template, resources } = synthesize());
}, 120_000);
afterAll(removeOutdirs);

describe('logical ids', () => {
  it.each(Object.keys(PINNED))('every %s keeps its logical id', (type) => {
    expect(Object.keys(template.findResources(type)).sort()).toEqual(Object.keys(PINNED[type]!).sort());
  });

  it('the retained resources are exactly these, and keep their logical ids', () => {
    const retained = Object.entries(resources).filter(([, resource]) => resource.DeletionPolicy === 'Retain');
    expect(retained.map(([id]) => id).sort()).toEqual([...RETAINED].sort());
    for (const [id, resource] of retained) expect(resource.UpdateReplacePolicy, id).toBe('Retain');
  });

  it('the gateway’s table, bucket, secret and state machine are the pinned resources', () => {
    const { gateway } = stack;
    expect(gateway.node.path).toBe('LumaVideoGateway/Default');
    expect(logicalIdOf(stack, gateway.table)).toBe('StorageTableB43FDCE7');
    expect(logicalIdOf(stack, gateway.bucket)).toBe('StorageBucket5CB7C8EA');
    expect(logicalIdOf(stack, gateway.accessLogBucket!)).toBe('StorageAccessLogBucket76E80A12');
    expect(logicalIdOf(stack, gateway.upstreamKey)).toBe('UpstreamKeyBB883468');
    expect(logicalIdOf(stack, gateway.stateMachine)).toBe('WorkflowStateMachine8F1B1C15');
  });
});
