import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNamespaceName } from '../model/names.js';
import { NATIVE_DIR } from '../paths.js';
import { displayCommand } from './display.js';
import { spawnDyingWithParent } from './spawn.js';

export { displayCommand };

export interface RunOptions {
  /** Text written to the command's standard input (for `nft -f -`, `ip -batch -`, ...). */
  readonly input?: string;
  /** Run inside this network namespace (see commandLine); null or absent means the current one. */
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

/**
 * Programs that see a namespace only through netlink, ioctls on sockets and /proc (whose net and sys/net follow the
 * process's network namespace), never through /sys/class/net: for them entering the network namespace is enough.
 * sfip's own helpers (dist/native) are all of that kind.
 */
const NETWORK_ONLY = new Set([
  'ip',
  'nft',
  'tc',
  'conntrack',
  'ipset',
  'iptables',
  'iptables-save',
  'iptables-restore',
  'iptables-legacy',
  'iptables-legacy-save',
  'iptables-legacy-restore',
  'iptables-nft',
  'iptables-nft-save',
  'iptables-nft-restore',
  'bpftool',
  'sysctl',
  'cat',
]);

const entersNetworkOnly = (file: string): boolean =>
  file.startsWith(NATIVE_DIR + '/') || (!file.includes('/') && NETWORK_ONLY.has(file));

/**
 * The command line that runs `file` in `netns`. `ip netns exec` unshares a mount namespace and mounts a /sys of the
 * namespace for each program (0.67 s for 200 short reads against 0.45 s with nsenter, measured): only a program
 * that may read /sys/class/net (arping, BIRD, anything not listed) pays for that. The others enter the network
 * namespace alone, which also leaves bpffs at /sys/fs/bpf visible (tc attaches pinned programs from there).
 */
export function commandLine(file: string, args: readonly string[], netns?: string | null): string[] {
  if (netns == null) return [file, ...args];
  const name = parseNamespaceName(netns);
  if (entersNetworkOnly(file)) return ['nsenter', `--net=/run/netns/${name}`, '--', file, ...args];
  return ['ip', 'netns', 'exec', name, file, ...args];
}

/**
 * Above this, the input reaches the program through a file rather than a pipe. A pipe takes 64 KiB; the rest waits
 * for the event loop to write it, so a program fed megabytes (`ip -batch` of 100,000 local routes) stalls
 * whenever the daemon computes, and the daemon cannot do its other work while that program runs.
 */
const PIPE_INPUT_MAX = 64 * 1024;

/** How a started program ended: its output and exit, or why it could not be started. */
export type Outcome =
  | {
      readonly stdout: Buffer;
      readonly stderr: Buffer;
      readonly code: number | null;
      readonly signal: string | null;
    }
  | { readonly error: string };

export interface StartOptions {
  /** A descriptor to read (a large input's file, see PIPE_INPUT_MAX) or text to write into a pipe. */
  readonly stdin: number | string | Buffer;
  readonly timeoutMs?: number;
}

/**
 * Starts `argv` under DIE_WITH_PARENT and collects what it writes. `record`: false in the spawn server only, whose
 * daemon recorded the program when it asked for it (record-programs.ts).
 */
export function startCollecting(
  argv: readonly string[],
  options: StartOptions,
  record = true,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawnDyingWithParent(
      argv,
      {
        stdio: [typeof options.stdin === 'number' ? options.stdin : 'pipe', 'pipe', 'pipe'],
        timeout: options.timeoutMs ?? 120_000,
        env: { ...process.env, LC_ALL: 'C' },
      },
      record,
    );
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => resolve({ error: e.message }));
    child.on('close', (code, signal) =>
      resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err), code, signal }),
    );
    if (child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.stdin);
    }
  });
}

/** The result of an outcome, or the ExecError it is: one wording wherever the program ran. */
export function settle(
  argv: readonly string[],
  outcome: Outcome,
  okExitCodes?: readonly number[],
): RunResult {
  if ('error' in outcome) throw new ExecError(argv, -1, outcome.error);
  const { code, signal } = outcome;
  const result = { stdout: outcome.stdout.toString(), stderr: outcome.stderr.toString(), code: code ?? -1 };
  if (code === 0 || (code !== null && okExitCodes?.includes(code))) return result;
  throw new ExecError(argv, code ?? -1, result.stderr || (signal ? `killed by ${signal}` : ''));
}

/** Whether an input goes through an unlinked file (see PIPE_INPUT_MAX). */
export const inputNeedsFile = (input: string): boolean => input.length > PIPE_INPUT_MAX;

/** `run` of a whole command line (commandLine's), in this process. `record`: see startCollecting. */
export async function runCommand(
  argv: readonly string[],
  options: RunOptions,
  record = true,
): Promise<RunResult> {
  const input = options.input ?? '';
  // Synchronously, so that the program is started within this call: a caller may compute meanwhile (see
  // RouterDataplane.run), and an await here would hold the start back until it is done.
  const inputFd = inputNeedsFile(input) ? openInputFile(input) : undefined;
  try {
    const outcome = await startCollecting(
      argv,
      { stdin: inputFd ?? input, ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }) },
      record,
    );
    return settle(argv, outcome, options.okExitCodes);
  } finally {
    // The child holds its own copy of the descriptor; the file itself was unlinked when opened.
    if (inputFd !== undefined) closeSync(inputFd);
  }
}

/** Starts each program from this process: node forks it on the event loop (the CLI's one-shot commands). */
export const runDirect: Runner = async (file, args, options = {}) =>
  runCommand(commandLine(file, args, options.netns), options);

let installed: Runner | null = null;

/**
 * Runs a program: through the runner this process installed (the daemon's spawn server, see spawn-client.ts),
 * else directly. Every backend and chore takes this as its default, so installing one moves them all.
 */
export const run: Runner = (file, args, options) => (installed ?? runDirect)(file, args, options);

/** Installs the process's runner (null: back to starting programs directly). */
export function useRunner(runner: Runner | null): void {
  installed = runner;
}

/**
 * Where input files go: shared memory (tmpfs) when there is some, else the temporary directory. On a disk's file
 * system the last close of an unlinked file frees its blocks in the closing thread, the daemon's event loop: about
 * 1 ms per input of 150 KB on ext4 against 0.01 ms on tmpfs, 0.3 s of a 100-router converge's main thread (two
 * large inputs per router: its elements and its local routes). An input lives only until its program has read it.
 */
const SHARED_MEMORY = '/dev/shm';
let inputDirs: (() => readonly string[]) | null = null;

/** Where input files go instead (tests: none writable, to see the pipe used); null: back to the default. */
export function useInputDirs(dirs: readonly string[] | null): void {
  inputDirs = dirs && (() => dirs);
}

/**
 * The input in a file that is already unlinked (private to this process and the child it is given to); undefined
 * when no temporary file can be written anywhere (a full or read-only /tmp): the pipe still works, only slower.
 */
export function openInputFile(input: string): number | undefined {
  for (const base of inputDirs?.() ?? [SHARED_MEMORY, tmpdir()]) {
    const fd = openInputFileIn(base, input);
    if (fd !== undefined) return fd;
  }
  return undefined;
}

function openInputFileIn(base: string, input: string): number | undefined {
  let dir: string | undefined;
  try {
    dir = mkdtempSync(join(base, 'sfip-input-'));
    const path = join(dir, 'input');
    writeFileSync(path, input, { mode: 0o600 });
    return openSync(path, 'r');
  } catch {
    return undefined;
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
