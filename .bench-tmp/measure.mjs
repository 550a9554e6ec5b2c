const f = process.argv[2];
const c0 = process.cpuUsage(); const t0 = performance.now();
await import(f);
const c = process.cpuUsage(c0); const t = performance.now() - t0;
process.stdout.write(`${((c.user + c.system)/1000).toFixed(1)} ${t.toFixed(1)}\n`);
