import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNamespaceName } from '../model/names.js';
import { displayCommand } from './display.js';
import { spawnDyingWithParent } from './spawn.js';

export { displayCommand };

export interface RunOptions {
  /** Text written to the command's standard input (for `nft -f -`, `ip -batch -`, ...). */
  readonly input?: string;
  /** Run inside this network namespace (through `ip netns exec`); null or absent means the current one. */
  readonly netns?: string | null;
  readonly timeoutMs?: number;
  /** Exit codes that are not failures for this command (for example `conntrack -D` finding nothing). */
  readonly okExitCodes?: readonly number[];
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

/** Runs a program. Arguments always travel as an array: nothing is ever parsed by a shell. */
export type Runner = (file: string, args: readonly string[], options?: RunOptions) => Promise<RunResult>;

export class ExecError extends Error {
  constructor(
    readonly command: readonly string[],
    readonly code: number,
    readonly stderr: string,
  ) {
    super(`${displayCommand(command)} failed (exit ${code}): ${stderr.trim() || '(no output)'}`);
    this.name = 'ExecError';
  }
}

const NAMESPACE_GONE = [
  /Cannot open network namespace/, // ip netns exec
  /cannot open \/run\/netns\/[^:]+: No such file or directory/, // nsenter --net=/run/netns/NAME
  /^network namespace \S+ does not exist/, // sfip's own wording of either (gateway-addresses.ts)
];

/**
 * Whether a command failed because its network namespace does not exist (any more): `ip netns exec` and `nsenter`
 * say so on stderr. A namespace deleted under a running operation took its devices, filters and tables with it, so callers
 * that tear state down treat this as done rather than failed.
 */
export function isNamespaceGone(error: unknown): boolean {
  const text = error instanceof ExecError ? error.stderr : error instanceof Error ? error.message : '';
  return NAMESPACE_GONE.some((pattern) => pattern.test(text));
}

export function commandLine(file: string, args: readonly string[], netns?: string | null): string[] {
  if (netns == null) return [file, ...args];
  return ['ip', 'netns', 'exec', parseNamespaceName(netns), file, ...args];
}

/**
 * Above this, the input reaches the program through a file rather than a pipe. A pipe takes 64 KiB; the rest waits
 * for the event loop to write it, so a program fed megabytes (`ip -batch` of 100,000 local routes) stalls
 * whenever the daemon computes, and the daemon cannot do its other work while that program runs.
 */
const PIPE_INPUT_MAX = 64 * 1024;

export const run: Runner = async (file, args, options = {}) => {
  const argv = commandLine(file, args, options.netns);
  const input = options.input ?? '';
  // Synchronously, so that the program is started within this call: a caller may compute meanwhile (see
  // RouterDataplane.run), and an await here would hold the start back until it is done.
  const inputFd = input.length > PIPE_INPUT_MAX ? openInputFile(input) : undefined;
  try {
    return await new Promise((resolve, reject) => {
      const child = spawnDyingWithParent(argv, {
        stdio: [inputFd ?? 'pipe', 'pipe', 'pipe'],
        timeout: options.timeoutMs ?? 120_000,
        env: { ...process.env, LC_ALL: 'C' },
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout!.on('data', (b: Buffer) => out.push(b));
      child.stderr!.on('data', (b: Buffer) => err.push(b));
      child.on('error', (e) => reject(new ExecError(argv, -1, e.message)));
      child.on('close', (code, signal) => {
        const result = {
          stdout: Buffer.concat(out).toString(),
          stderr: Buffer.concat(err).toString(),
          code: code ?? -1,
        };
        if (code === 0 || (code !== null && options.okExitCodes?.includes(code))) resolve(result);
        else reject(new ExecError(argv, code ?? -1, result.stderr || (signal ? `killed by ${signal}` : '')));
      });
      if (child.stdin) {
        child.stdin.on('error', () => undefined);
        child.stdin.end(input);
      }
    });
  } finally {
    // The child holds its own copy of the descriptor; the file itself was unlinked when opened.
    if (inputFd !== undefined) closeSync(inputFd);
  }
};

/**
 * The input in a file that is already unlinked (private to this process and the child it is given to); undefined
 * when no temporary file can be written (a full or read-only /tmp): the pipe still works, only slower.
 */
function openInputFile(input: string): number | undefined {
  let dir: string | undefined;
  try {
    dir = mkdtempSync(join(tmpdir(), 'sfip-input-'));
    const path = join(dir, 'input');
    writeFileSync(path, input, { mode: 0o600 });
    return openSync(path, 'r');
  } catch {
    return undefined;
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
