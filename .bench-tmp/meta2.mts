import { build } from 'esbuild';
const [fn, pkg] = process.argv.slice(2);
const r = await build({ entryPoints: [`/work/wt-perf/functions/${fn}/handler.ts`], bundle: true, platform: 'node', format: 'esm', target: 'node20', minify: true, keepNames: true, mainFields: ['module','main'], write: false, metafile: true, outfile: '/tmp/perfx/x.mjs', logLevel: 'error' });
const out = Object.values(r.metafile.outputs)[0];
const by = new Map<string, number>();
for (const [path, { bytesInOutput }] of Object.entries(out.inputs)) {
  if (!path.includes(`node_modules/${pkg}/`)) continue;
  const key = path.split(`node_modules/${pkg}/`)[1].split('/').slice(0, 3).join('/');
  by.set(key, (by.get(key) ?? 0) + bytesInOutput);
}
for (const [k, v] of [...by].sort((a,b)=>b[1]-a[1]).slice(0, 20)) console.log('  ', String(Math.round(v/1024)).padStart(5), k);
