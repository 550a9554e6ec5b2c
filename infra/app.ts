/**
 * The CDK app. Settings come from context (`cdk.json` or `-c key=value`):
 * `upstreamBaseUrl`, `upstreamModel`, `upstreamKeySecretArn`, `generationTimeoutMinutes`, `pollIntervalSeconds`.
 */
import { App, Duration } from 'aws-cdk-lib';
import { fileURLToPath } from 'node:url';
import { GatewayStack } from './gateway-stack.ts';

export const STACK_NAME = 'LumaVideoGateway';

export function buildApp(options: { outdir?: string; context?: Record<string, unknown> } = {}): {
  app: App;
  stack: GatewayStack;
} {
  const app = new App({ outdir: options.outdir, context: options.context });
  const context = (key: string): string | undefined => app.node.tryGetContext(key) ?? undefined;
  const minutes = context('generationTimeoutMinutes');
  const seconds = context('pollIntervalSeconds');
  const stack = new GatewayStack(app, STACK_NAME, {
    description: 'Luma video generation gateway (seed-compatible API, Step Functions, S3)',
    upstream: { baseUrl: context('upstreamBaseUrl'), model: context('upstreamModel') },
    upstreamKeySecretArn: context('upstreamKeySecretArn'),
    generationTimeout: minutes ? Duration.minutes(Number(minutes)) : undefined,
    pollInterval: seconds ? Duration.seconds(Number(seconds)) : undefined,
  });
  return { app, stack };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  buildApp().app.synth();
}
