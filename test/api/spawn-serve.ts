import type { ChildProcess } from 'node:child_process';
import { spawnProgram as spawn } from '../../src/exec/spawn.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface SpawnedServe {
  readonly url: string;
  readonly stateDir: string;
  /** The local admin token serve bootstrapped (token auth only). */
  readonly adminToken: string | undefined;
  /** Environment for sfip CLI children: the same state and runtime directories. */
  readonly env: NodeJS.ProcessEnv;
  /** Everything serve logged, for assertions and failure messages. */
  readonly logs: string[];
  /** The serve process (the primary, with API workers). */
  readonly pid: number;
  /** Sends serve a signal (SIGHUP reopens its audit log). */
  signal(name: NodeJS.Signals): void;
  /** SIGTERM and wait, keeping the state directory. */
  terminate(): Promise<void>;
  /** terminate(), then remove the state directory. */
  stop(): Promise<void>;
}

/** Runs the sfip CLI from source (so a test never runs a stale build) with the given arguments. */
export function sfipArgs(args: string[]): [string, string[]] {
  return [process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), ...args]];
}

/**
 * Starts `sfip serve` on a free loopback port in its own temporary state and runtime directories, and waits
 * until it logs that it listens. Stopping sends SIGTERM and removes the directories.
 */
export async function spawnServe(extra: string[] = []): Promise<SpawnedServe> {
  const stateDir = mkdtempSync(join(tmpdir(), 'ta-serve-'));
  const env = { ...process.env, SFIP_RUNTIME_DIR: join(stateDir, 'run'), SFIP_STATE_DIR: stateDir };
  const [command, args] = sfipArgs([
    'serve',
    '--port',
    '0',
    '--state-dir',
    stateDir,
    '--log-level',
    'info',
    ...extra,
  ]);
  const child: ChildProcess = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const url = await new Promise<string>((done, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`sfip serve did not start in 30 s:\n${logs.join('\n')}`)),
      30_000,
    );
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        logs.push(line);
        const match = /"url":"(http:\/\/[^"]+)".*"msg":"sfip API listening"/.exec(line);
        if (match) {
          clearTimeout(timer);
          done(match[1]!);
        }
      });
    }
    void exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`sfip serve exited with ${String(code)}:\n${logs.join('\n')}`));
    });
  });
  let adminToken: string | undefined;
  try {
    adminToken = readFileSync(join(stateDir, 'admin-token'), 'utf8').trim();
  } catch {
    adminToken = undefined;
  }
  const terminate = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  return {
    url,
    stateDir,
    adminToken,
    env,
    logs,
    pid: child.pid!,
    signal: (name) => void child.kill(name),
    terminate,
    async stop() {
      await terminate();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** A JSON request with a token, returning the status and the parsed body. */
export async function request(
  url: string,
  token: string | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(token !== undefined && { 'x-auth-token': token }),
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}
