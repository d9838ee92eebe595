/**
 * The sfip CLI run from source against an API URL, as a child process, for the test/cli tests. One place so they
 * all run it the same way: through tsx (a test never runs a stale build), NO_COLOR (plain text to assert on), and
 * a non-zero exit returned as a result, not thrown, since refusals are what many tests check.
 */
import { join } from 'node:path';
import { spawnProgram } from '../../src/exec/spawn.js';

/** src/cli.ts, the CLI's entry point. */
export const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to its end with NO_COLOR set, collecting its exit code and output. */
export function runProgram(program: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawnProgram(program, args, { env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** `sfip --url URL ARGS…` from source. */
export function sfip(url: string, ...args: string[]): Promise<CliResult> {
  return runProgram(process.execPath, ['--import', 'tsx', CLI, '--url', url, ...args]);
}
