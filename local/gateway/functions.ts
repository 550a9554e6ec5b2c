/**
 * Every function of the synthesized app, hosted as Lambda runs it (local/lambda-host.ts): its bundle, its
 * handler, its timeout, and its environment from the template, resolved and pointed at the local endpoints.
 * Invocations are counted per function (usage.ts), under the names `logicalIds` gives them.
 */
import { LambdaHost } from '../lambda-host.ts';
import { resolveIntrinsics, type PseudoParameters, type ResourceValues, type Template } from '../cloudformation-intrinsics.ts';
import type { UsageMeter } from '../usage.ts';
import { bundlePathOf } from './synthesized-app.ts';

/** A function as the runtime calls it: its host, counted. */
export type Invocable = Pick<LambdaHost, 'arn' | 'invoke' | 'close'>;

export interface HostedFunctions {
  /** By ARN. */
  hosts: Map<string, Invocable>;
  close(): Promise<void>;
}

export function hostFunctions(options: {
  template: Template;
  outdir: string;
  /** Logical ids, by the names usage counts go by. */
  functions: Record<string, string>;
  values: ResourceValues;
  pseudo: PseudoParameters;
  functionArn(id: string): string;
  /** The function's environment as it runs here, from the template's resolved one. */
  environment(resolved: Record<string, string>): Record<string, string>;
  usage: UsageMeter;
  logs?: (chunk: string) => void;
}): HostedFunctions {
  const hosts = new Map<string, Invocable>();
  const all: LambdaHost[] = [];
  for (const [name, id] of Object.entries(options.functions)) {
    const resource = options.template.Resources[id]!.Properties;
    const environment = resolveIntrinsics(resource.Environment?.Variables ?? {}, options.values, options.pseudo) as Record<string, string>;
    // Names the function in its SDK's user agent, so that its DynamoDB reads are counted as its own.
    environment.AWS_SDK_UA_APP_ID = name;
    const host = new LambdaHost({
      name: id,
      arn: options.functionArn(id),
      bundlePath: bundlePathOf(options.outdir, resource.Code?.S3Key),
      handlerName: String(resource.Handler).split('.').pop()!,
      timeoutMs: (resource.Timeout ?? 3) * 1000,
      environment: options.environment(environment),
      logs: options.logs,
    });
    all.push(host);
    hosts.set(host.arn, { arn: host.arn, invoke: (payload) => options.usage.timed(name, () => host.invoke(payload)), close: () => host.close() });
  }
  return { hosts, close: async () => void (await Promise.all(all.map((host) => host.close()))) };
}
