#!/usr/bin/env node
// In this repository the CLI runs from its TypeScript source, through tsx; a published package runs its build.
import { existsSync } from 'node:fs';

const source = new URL('../src/bin.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import('../dist/bin.js');
}
