/**
 * The app as the infra tests build it: through `buildApp` from infra/app.ts, which applies cdk.json's context
 * (e.g. `@aws-cdk/aws-iam:minimizePolicies`, which merges and sorts policy statements) exactly as `cdk synth`
 * and `cdk deploy` do, with the test's own context on top. A synth takes seconds: a test file builds its
 * default app once, in a `beforeAll`, and further apps only for the settings it is about.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { App, CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { buildApp } from '../../../infra/app.ts';
import type { GatewayStack } from '../../../infra/gateway-stack.ts';
import type { GatewayFunctions, LumaVideoGateway } from '../../../infra/constructs/luma-video-gateway.ts';
import { afterAll, beforeAll } from 'vitest';
import type { Json, Resources } from './template.ts';

/** Skips asset bundling: for builds that only look at the template. */
export const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

export interface Synthesized {
  readonly app: App;
  readonly stack: GatewayStack;
  readonly gateway: LumaVideoGateway;
  readonly template: Template;
  readonly resources: Resources;
  /** The cloud assembly's folder (removed by `removeOutdirs`). */
  readonly outdir: string;
}

export interface SynthOptions {
  /** Bundle the functions' code, as a deploy does. @default false: the template is all most tests need */
  readonly bundle?: boolean;
  /** Run cdk-nag's checks when the app is synthesized (a finding fails it), as `cdk synth` does. @default true */
  readonly nag?: boolean;
}

const outdirs: string[] = [];

/** A fresh folder under the system's temporary one, removed by `removeOutdirs`. */
export function tempDir(prefix = 'gateway-infra-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  outdirs.push(dir);
  return dir;
}

/** For each file's `afterAll`: removes every folder `synthesize` and `tempDir` made. */
export function removeOutdirs(): void {
  for (const dir of outdirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Builds the app with `context` (given as the CLI gives it, or as cdk.json does) and synthesizes its template. */
export function synthesize(context: Record<string, unknown> = {}, options: SynthOptions = {}): Synthesized {
  const outdir = tempDir();
  const { app, stack } = buildApp({ outdir, context: { ...(options.bundle ? {} : NO_BUNDLING), ...context }, nag: options.nag ?? true });
  const template = Template.fromStack(stack);
  return { app, stack, gateway: stack.gateway, template, resources: template.toJSON().Resources, outdir };
}

/**
 * For a file about the default app: builds it once, before the file's tests (`beforeAll`), hands it with the
 * logical ids of the gateway's main resources to `use`, and removes every folder made after them (`afterAll`).
 */
export function synthesizeOnce(use: (synthesized: Synthesized & { readonly ids: GatewayIds }) => void, options: SynthOptions = {}): void {
  beforeAll(() => {
    const synthesized = synthesize({}, options);
    use({ ...synthesized, ids: gatewayIds(synthesized.stack) });
  }, 120_000);
  afterAll(removeOutdirs);
}

export function logicalIdOf(stack: Stack, construct: IConstruct): string {
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

/** The six project functions, by the names the tests use. */
export const PROJECT_FUNCTIONS = ['Api', 'Poll', 'Copy', 'RecordFailure', 'Reconcile', 'DeliverWebhook'] as const;
export type ProjectFunction = (typeof PROJECT_FUNCTIONS)[number];
const FUNCTION_KEYS: Record<ProjectFunction, keyof GatewayFunctions> = {
  Api: 'api',
  Poll: 'poll',
  Copy: 'copy',
  RecordFailure: 'recordFailure',
  Reconcile: 'reconcile',
  DeliverWebhook: 'deliverWebhook',
};
/** The functions that change tasks, and so publish each change (TaskLifecycle): all but the delivery's own. */
export const PUBLISHING_FUNCTIONS = ['Api', 'Poll', 'Copy', 'RecordFailure', 'Reconcile'] as const;
/**
 * The functions that take, give back and hand on upstream slots: they dispatch (`grantTable`'s `capacity`,
 * capacity settings, StartExecution); not Copy, which moves tasks whose slot was given back already.
 */
export const CAPACITY_FUNCTIONS = ['Api', 'Poll', 'RecordFailure', 'Reconcile'] as const;

/** The logical ids of the gateway's main resources in `stack`'s template. */
export interface GatewayIds {
  readonly fn: Record<ProjectFunction, string>;
  readonly role: Record<ProjectFunction, string>;
  readonly table: string;
  readonly bucket: string;
  readonly accessLogBucket: string;
  /** The upstream key's secret, when the gateway created it. */
  readonly secret: string | undefined;
  readonly stateMachine: string;
  readonly deliveryStateMachine: string;
  readonly restApi: string;
  readonly stage: string;
  readonly webAcl: string;
  readonly reconcileSchedule: string;
}

export function gatewayIds(stack: GatewayStack): GatewayIds {
  const { gateway } = stack;
  const id = (construct: IConstruct) => logicalIdOf(stack, construct);
  const fn = {} as Record<ProjectFunction, string>;
  const role = {} as Record<ProjectFunction, string>;
  for (const name of PROJECT_FUNCTIONS) {
    const handler = gateway.functions[FUNCTION_KEYS[name]];
    fn[name] = id(handler);
    role[name] = id(handler.role!);
  }
  return {
    fn,
    role,
    table: id(gateway.table),
    bucket: id(gateway.bucket),
    accessLogBucket: id(gateway.accessLogBucket!),
    secret: gateway.upstreamKey.node.defaultChild ? id(gateway.upstreamKey) : undefined,
    stateMachine: id(gateway.stateMachine),
    deliveryStateMachine: id(gateway.deliveryStateMachine),
    restApi: id(gateway.restApi),
    stage: id(gateway.restApi.deploymentStage),
    webAcl: stack.getLogicalId(gateway.webAcl),
    reconcileSchedule: id(gateway.reconcileSchedule),
  };
}

/** A function's environment variables in the template. */
export function environmentOf(synthesized: Pick<Synthesized, 'stack' | 'resources'>, construct: IConstruct): Record<string, Json> {
  return synthesized.resources[logicalIdOf(synthesized.stack, construct)]!.Properties.Environment?.Variables ?? {};
}

/**
 * The state machine's ARN as the functions it invokes name it (in the default app, stack `LumaVideoGateway`):
 * formatted from its literal name, not a reference to it, rendered as `render` renders a template value.
 */
export const STATE_MACHINE_ARN_FROM_NAME = 'arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:LumaVideoGateway-generation';

/** The webhook delivery workflow's ARN as the functions that publish name it, formatted from its literal name. */
export const DELIVERY_STATE_MACHINE_ARN = 'arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:LumaVideoGateway-webhooks';

/** The account's default event bus, as the gateway names it by default. */
export const DEFAULT_EVENT_BUS_ARN = 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default';
