/**
 * Runs the CLI in-process once per argument vector (much faster than a process each) and writes every exit code
 * and everything it printed to a JSON file. Runs as its own process because it takes over stdout and stderr.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { main } from '../../src/cli/main.js';

const [url, input, output] = process.argv.slice(2) as [string, string, string];
const placements = JSON.parse(readFileSync(input, 'utf8')) as string[][];
const results: { argv: string[]; code: number; output: string }[] = [];
let captured = '';
const capture = ((chunk: string | Uint8Array) => (
  (captured += String(chunk)),
  true
)) as typeof process.stdout.write;
const original = {
  out: process.stdout.write.bind(process.stdout),
  err: process.stderr.write.bind(process.stderr),
};
process.stdout.write = capture;
process.stderr.write = capture;
for (const argv of placements) {
  captured = '';
  if (process.env.SFIP_BARRAGE_TRACE) original.err(`${JSON.stringify(argv).slice(0, 200)}\n`);
  let code: number;
  try {
    code = await main(['node', 'sfip', '--url', url, ...argv]);
  } catch (error) {
    code = -1;
    captured += `uncaught: ${(error as Error).stack}`;
  }
  process.exitCode = undefined;
  results.push({ argv, code, output: captured.slice(0, 2000) });
}
process.stdout.write = original.out;
process.stderr.write = original.err;
writeFileSync(output, JSON.stringify(results));
process.exit(0);
