/**
 * The app as `cdk synth` builds it, read back for the bench: each function's bundle (the very file that
 * deploys) and its environment, with every reference to another resource replaced by a placeholder (what
 * the functions read at init is only their shape).
 */
import { join } from 'node:path';
import { resolveIntrinsics, type ResourceValues, type Template } from '../../local/cloudformation-intrinsics.ts';
import { bundlePathOf, logicalIds, synthesize } from '../../local/gateway/synthesized-app.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../../local/local-aws.ts';

export type FunctionName = 'Api' | 'Poll' | 'Copy' | 'RecordFailure' | 'Reconcile' | 'DeliverWebhook';

export interface SynthesizedFunction {
  bundle: string;
  environment: Record<string, string>;
  memoryMb: number;
}

export function synthesizedFunctions(workDir: string): Record<FunctionName, SynthesizedFunction> {
  const { stack, template, outdir } = synthesize(join(workDir, 'cdk.out'), {});
  const ids = logicalIds(stack);
  const values = placeholderValues(template);
  const pseudo = { region: LOCAL_REGION, accountId: LOCAL_ACCOUNT, stackName: stack.stackName };
  const functions = {} as Record<FunctionName, SynthesizedFunction>;
  for (const [name, id] of Object.entries(ids.functions) as [FunctionName, string][]) {
    const resource = template.Resources[id]!.Properties;
    functions[name] = {
      bundle: bundlePathOf(outdir, resource.Code?.S3Key),
      environment: resolveIntrinsics(resource.Environment?.Variables ?? {}, values, pseudo) as Record<string, string>,
      memoryMb: Number(resource.MemorySize ?? 128),
    };
  }
  return functions;
}

/** Every resource a placeholder physical id and ARN. */
function placeholderValues(template: Template): ResourceValues {
  const values: ResourceValues = {};
  for (const id of Object.keys(template.Resources)) {
    values[id] = {
      ref: `bench-${id}`,
      attributes: { Arn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${id}`, Name: `bench-${id}`, RootResourceId: 'root' },
    };
  }
  return values;
}
