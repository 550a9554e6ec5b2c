/** The `luma-video` executable: the CLI on this process's arguments, streams and environment. */
import { main } from './cli.ts';

const stop = new AbortController();
// The first Ctrl-C stops waiting (the generation goes on upstream); a second one ends the process at once.
process.once('SIGINT', () => {
  stop.abort(new Error('interrupted'));
  process.once('SIGINT', () => process.exit(130));
});

process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: stop.signal });
