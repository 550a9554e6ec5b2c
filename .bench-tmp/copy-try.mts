import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesizedFunctions } from '../scripts/bench/app.ts';
import { measureCopy } from '../scripts/bench/copy.ts';
const workDir = mkdtempSync(join(tmpdir(), 'copy-try-'));
const functions = synthesizedFunctions(workDir);
console.log(JSON.stringify(await measureCopy({ copy: functions.Copy, workDir, sizesMb: [5, 20], log: console.log }), null, 1));
