import type { ChildProcess } from 'node:child_process';
import { spawnProgram as spawn } from '../../src/exec/spawn.js';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');

/** Node's arguments that run the CLI from source, through tsx: a test never runs a stale build (else built-sfip.ts). */
export const FROM_SOURCE: readonly string[] = ['--import', 'tsx', CLI];

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly url: string;
  stop(): Promise<void>;
}

/** Starts a real `sfip serve` (by default through tsx) and resolves when its API listens. */
export function startServe(
  stateDir: string,
  args: readonly string[] = [],
  program: readonly string[] = FROM_SOURCE,
): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    [...program, 'serve', '--state-dir', stateDir, '--port', '0', '--no-garp', ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === 'sfip API listening' && entry.url) {
        resolve({
          child,
          url: entry.url,
          stop: () =>
            new Promise<void>((done) => {
              if (child.exitCode !== null) return done();
              child.once('exit', () => done());
              child.kill('SIGTERM');
            }),
        });
      }
    });
    child.once('exit', (code) => reject(new Error(`sfip serve exited with ${code}`)));
  });
}

/** Runs the CLI (through tsx) and collects its output. */
export function sfip(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return sfipWith(FROM_SOURCE, ...args);
}

/** Runs the CLI as `program` (node's arguments before the CLI's) and collects its output. */
export function sfipWith(
  program: readonly string[],
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...program, ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The value of one sample in Prometheus text, or undefined when the series is absent. */
export function sample(metrics: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const labelText = line.slice(name.length + 1, close);
    if (wanted.every((w) => labelText.split(',').includes(w))) return Number(line.slice(close + 1).trim());
  }
  return undefined;
}
