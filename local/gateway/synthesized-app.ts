/**
 * The CDK app as `npm start` runs it: synthesized with the deployment settings as CDK context, then read
 * back: its logical ids, the bucket's CORS rules, each function's bundle, the reconciler's schedule, and the
 * state machine's backstop timeout.
 */
import type { CfnElement, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildApp } from '../../infra/app.ts';
import type { GatewayStack } from '../../infra/gateway-stack.ts';
import { GENERATION_OPTION_NAMES, GENERATION_OPTIONS } from '../../functions/commons/domain/luma-options.ts';
import type { AslDefinition } from '../asl.ts';
import type { Template } from '../cloudformation-intrinsics.ts';
import type { BucketCorsRule } from '../endpoint-guard.ts';
import type { LocalGatewayOptions } from '../gateway.ts';

/** The options that are deployment settings, as the CDK context keys a deploy would set. */
export function synthContext(
  options: Pick<LocalGatewayOptions, 'upstreamChoices' | 'upstreamResubmits' | 'edgeLimits' | 'corsAllowedOrigins' | 'exampleConsumer' | 'upstreamCallbacks'>,
): Record<string, unknown> {
  const context: Record<string, unknown> = {};
  for (const name of GENERATION_OPTION_NAMES) {
    const { default: value, allowed } = options.upstreamChoices?.[name] ?? {};
    if (value !== undefined && value !== '') context[GENERATION_OPTIONS[name].context] = value;
    if (allowed !== undefined && allowed !== '') context[GENERATION_OPTIONS[name].allowedContext] = allowed;
  }
  if (options.upstreamResubmits !== undefined) context.upstreamResubmits = options.upstreamResubmits;
  if (options.upstreamCallbacks !== undefined) context.upstreamCallbacks = options.upstreamCallbacks;
  const edge = options.edgeLimits ?? {};
  const edgeContext = { clientRequestsPerMinute: edge.requestsPerKey, ipRequestsPerMinute: edge.requestsPerAddress, apiRateLimit: edge.rateLimit, apiBurstLimit: edge.burstLimit };
  for (const [key, value] of Object.entries(edgeContext)) if (value !== undefined) context[key] = value;
  if (options.corsAllowedOrigins !== undefined) context.corsAllowedOrigins = [...options.corsAllowedOrigins];
  if (options.exampleConsumer !== undefined) context.exampleConsumer = options.exampleConsumer;
  return context;
}

export function synthesize(outdir: string, context: Record<string, unknown>): { stack: GatewayStack; template: Template; outdir: string } {
  // The template is validated by `cdk synth` and the infra tests; skipping it here saves ~2 s per start.
  const { app, stack } = buildApp({ outdir, context, validate: false });
  const assembly = app.synth();
  const template = assembly.getStackByName(stack.stackName).template as Template;
  return { stack, template, outdir };
}

export function logicalIds(stack: GatewayStack) {
  const id = (construct: IConstruct) => (stack as Stack).getLogicalId(construct.node.defaultChild as CfnElement);
  const { gateway } = stack;
  return {
    table: id(gateway.table),
    bucket: id(gateway.bucket),
    stateMachine: id(gateway.stateMachine),
    deliveryStateMachine: id(gateway.deliveryStateMachine),
    secret: id(gateway.upstreamKey),
    restApi: id(gateway.restApi),
    api: id(gateway.functions.api),
    reconcile: id(gateway.functions.reconcile),
    reconcileSchedule: id(gateway.reconcileSchedule),
    /** By the names the usage counts go by. */
    functions: {
      Api: id(gateway.functions.api),
      Poll: id(gateway.functions.poll),
      Copy: id(gateway.functions.copy),
      RecordFailure: id(gateway.functions.recordFailure),
      Reconcile: id(gateway.functions.reconcile),
      DeliverWebhook: id(gateway.functions.deliverWebhook),
      ...(stack.exampleConsumer && { ExampleConsumer: id(stack.exampleConsumer.handler) }),
    } as Record<string, string>,
  };
}

/** The bucket's CORS rules from its template properties (none unless the deployment allows browser origins). */
export function bucketCorsRules(bucket: { CorsConfiguration?: { CorsRules?: any[] } }): BucketCorsRule[] {
  return (bucket.CorsConfiguration?.CorsRules ?? []).map((rule) => ({
    allowedOrigins: rule.AllowedOrigins ?? [],
    allowedMethods: rule.AllowedMethods ?? [],
    allowedHeaders: rule.AllowedHeaders ?? [],
    maxAgeSeconds: rule.MaxAge,
  }));
}

/** A function's code is the asset `<hash>.zip`; its unzipped form is `cdk.out/asset.<hash>/index.mjs`. */
export function bundlePathOf(outdir: string, s3Key: unknown): string {
  const hash = typeof s3Key === 'string' ? /^([0-9a-f]{64})\.zip$/.exec(s3Key)?.[1] : undefined;
  if (!hash) throw new Error(`Cannot find the bundle of a function whose code key is ${JSON.stringify(s3Key)}.`);
  const path = join(outdir, `asset.${hash}`, 'index.mjs');
  if (!existsSync(path)) throw new Error(`Bundle ${path} is missing.`);
  return path;
}

/** The reconciler's `rate(…)` schedule from the template, in seconds. */
export function scheduleIntervalSeconds(template: Template, ruleId: string): number {
  const expression = String(template.Resources[ruleId]?.Properties?.ScheduleExpression ?? '');
  const match = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (!match) throw new Error(`Cannot run the schedule "${expression}" locally.`);
  const unit = { minute: 60, hour: 3_600, day: 86_400 }[match[2]!.replace(/s$/, '') as 'minute' | 'hour' | 'day'];
  return Number(match[1]) * unit;
}

/**
 * The machine's backstop timeout is the deployed deadline plus room for the copy; a local deadline
 * override moves it by as much, so a long local deadline is not cut short by the deployed backstop.
 */
export function withGenerationTimeout(definition: AslDefinition, deployedSeconds: string, overrideSeconds: number | undefined): AslDefinition {
  if (overrideSeconds === undefined || definition.TimeoutSeconds === undefined) return definition;
  return { ...definition, TimeoutSeconds: Math.max(1, definition.TimeoutSeconds + overrideSeconds - Number(deployedSeconds)) };
}
