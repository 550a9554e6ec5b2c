import { synthesize, logicalIds, bundlePathOf } from '../local/gateway/synthesized-app.ts';
import { resolveIntrinsics } from '../local/cloudformation-intrinsics.ts';
const { stack, template, outdir } = synthesize('/tmp/perfx/cdk2.out', {});
const ids = logicalIds(stack);
const values: any = {};
for (const id of Object.keys(template.Resources)) values[id] = { ref: `bench-${id}`, attributes: { Arn: `arn:aws:lambda:us-east-1:000000000000:function:${id}`, Name: 'n', RootResourceId: 'r' } };
const out: any = {};
for (const [name, id] of Object.entries(ids.functions)) {
  const r = template.Resources[id]!.Properties;
  out[name] = { bundle: bundlePathOf(outdir, r.Code.S3Key), env: resolveIntrinsics(r.Environment.Variables, values, { region: 'us-east-1', accountId: '000000000000', stackName: stack.stackName }) };
}
console.log(JSON.stringify(out));
