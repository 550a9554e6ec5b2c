import { build } from 'esbuild';
const fn = process.argv[2];
const r = await build({ entryPoints: [`/work/wt-perf/functions/${fn}/handler.ts`], bundle: true, platform: 'node', format: 'esm', target: 'node20', minify: true, keepNames: true, mainFields: ['module','main'], write: false, metafile: true, outfile: '/tmp/perfx/x.mjs', logLevel: 'error' });
const out = Object.values(r.metafile.outputs)[0];
const byPkg = new Map<string, number>();
for (const [path, { bytesInOutput }] of Object.entries(out.inputs)) {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  const key = m ? m[1] : path.replace(/^.*functions\//, 'functions/').replace(/\/[^/]+$/, '/');
  byPkg.set(key, (byPkg.get(key) ?? 0) + bytesInOutput);
}
console.log(fn, Math.round(out.bytes/1024), 'kB');
for (const [k, v] of [...byPkg].sort((a,b)=>b[1]-a[1]).slice(0, 25)) console.log('  ', String(Math.round(v/1024)).padStart(5), k);
