import { measureInit } from '../scripts/bench/init.ts';
console.log(JSON.stringify(await measureInit({ runs: 5, log: console.log }), null, 1));
