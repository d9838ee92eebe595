/**
 * The daemon's side of its spawn server (spawn-server-main.ts). Node starts a program by forking the calling
 * process on its event loop: for a daemon of hundreds of MB that took ~5 ms of its main thread per program, 3.7 s
 * of a 100-router converge. The server, a small node process, forks instead, on the other core; the daemon only
 * writes a request and reads the answer.
 *
 * Semantics are run's (run.ts): the same command line under DIE_WITH_PARENT, output, exit codes, timeout, input
 * (a large one still through an unlinked file, which the server opens through /proc), error wording, and the
 * program recorded here, in the daemon. If the server cannot start or ends, programs start directly from then on
 * (told once); a request it had been given fails with an ExecError and is never run again, since it may have
 * taken effect (an `nft -f` that committed).
 */
import type { ChildProcess } from 'node:child_process';
import { closeSync } from 'node:fs';
import { nodeProgram } from '../paths.js';
import { encodeFrame, FrameReader } from './frames.js';
import { recordPrograms } from './record-programs.js';
import {
  commandLine,
  ExecError,
  inputNeedsFile,
  openInputFile,
  runCommand,
  settle,
  useRunner,
  type Outcome,
  type Runner,
  type RunOptions,
  type RunResult,
} from './run.js';
import { DIE_WITH_PARENT, setRef, spawnDyingWithParent } from './spawn.js';
import { parseReply } from './spawn-protocol.js';

export interface SpawnServerOptions {
  /** Told once, when the server cannot start or ends early: programs start directly from then on. */
  readonly warn?: (message: string) => void;
  /** The server's command line; default the package's own (tests give one that fails). */
  readonly command?: readonly string[];
}

export interface SpawnServer {
  readonly run: Runner;
  /** The server's process id, undefined if it could not be started. */
  readonly pid: number | undefined;
  /** False once the server has ended: programs then start directly. */
  readonly serving: boolean;
  /** Whether the server became ready (false: it ended first); until then programs start directly. */
  readonly ready: Promise<boolean>;
  /** Ends the server (it exits when its stdin closes); later requests start directly. */
  close(): void;
}

interface Request {
  readonly argv: readonly string[];
  readonly options: RunOptions;
  readonly resolve: (result: RunResult) => void;
  readonly reject: (error: Error) => void;
  /** A large input's unlinked file, open until the answer (the server opens it through /proc). */
  inputFd?: number;
}

export function startSpawnServer(options: SpawnServerOptions = {}): SpawnServer {
  return new SpawnClient(options);
}

/** Starts a spawn server and makes it this process's runner (run.ts's `run`). */
export function installSpawnServer(options: SpawnServerOptions = {}): SpawnServer {
  const server = startSpawnServer(options);
  useRunner(server.run);
  return server;
}

class SpawnClient implements SpawnServer {
  private readonly child: ChildProcess;
  private state: 'starting' | 'ready' | 'ended' = 'starting';
  private readonly pending = new Map<number, Request>();
  private nextId = 1;
  private readonly reader = new FrameReader();
  private settleReady: (ready: boolean) => void = () => undefined;
  readonly ready = new Promise<boolean>((resolve) => (this.settleReady = resolve));
  private referenced = true;

  constructor(private readonly options: SpawnServerOptions) {
    const command = options.command ?? nodeProgram('exec/spawn-server-main');
    this.child = spawnDyingWithParent(command, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.stdin!.on('error', () => undefined); // EPIPE after it died: 'close' tells
    this.child.stdout!.on('data', (chunk: Buffer) => this.onData(chunk));
    this.child.on('error', (error) => this.end(`could not start (${error.message})`));
    // 'close', not 'exit': the answers it wrote before it ended are read first.
    this.child.on('close', (code, signal) => this.end(`exited (${signal ?? `exit code ${code}`})`));
    this.updateRef();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get serving(): boolean {
    return this.state !== 'ended';
  }

  readonly run: Runner = async (file, args, options = {}) => {
    const argv = commandLine(file, args, options.netns);
    // Until the server is ready, directly: a daemon's first programs (its backend's checks, a restarted agent's
    // reads) never wait for a node process to start, which under tsx or load takes a second or more.
    if (this.state !== 'ready') return runCommand(argv, options);
    recordPrograms([...DIE_WITH_PARENT, ...argv]);
    return new Promise<RunResult>((resolve, reject) => {
      this.send({ argv, options, resolve, reject });
      this.updateRef();
    });
  };

  close(): void {
    if (this.state === 'ended') return;
    this.child.stdin!.end();
    this.end(null);
  }

  private send(request: Request): void {
    const id = this.nextId++;
    const input = request.options.input ?? '';
    // Written to a file here, synchronously, as run does: megabytes never wait in a pipe for the event loop.
    if (inputNeedsFile(input)) request.inputFd = openInputFile(input);
    const header = {
      id,
      argv: request.argv,
      ...(request.options.timeoutMs !== undefined && { timeoutMs: request.options.timeoutMs }),
      ...(request.inputFd !== undefined && { inputPath: `/proc/${process.pid}/fd/${request.inputFd}` }),
    };
    this.pending.set(id, request);
    this.child.stdin!.write(encodeFrame(header, request.inputFd === undefined ? [Buffer.from(input)] : []));
  }

  private onData(chunk: Buffer): void {
    try {
      for (const frame of this.reader.push(chunk)) {
        const answer = parseReply(frame);
        if (answer === null) {
          this.onReady();
          continue;
        }
        const { reply, stdout, stderr } = answer;
        this.answer(
          reply.id,
          'error' in reply ? reply : { stdout, stderr, code: reply.code, signal: reply.signal },
        );
      }
    } catch (error) {
      this.child.kill('SIGKILL');
      this.end(`answered wrongly (${(error as Error).message})`);
    }
  }

  private onReady(): void {
    if (this.state !== 'starting') return;
    this.state = 'ready';
    this.settleReady(true);
    this.updateRef();
  }

  private answer(id: number, outcome: Outcome): void {
    const request = this.pending.get(id);
    if (!request) return;
    this.pending.delete(id);
    this.release(request);
    this.updateRef();
    try {
      request.resolve(settle(request.argv, outcome, request.options.okExitCodes));
    } catch (error) {
      request.reject(error as Error);
    }
  }

  /** The server is gone (`why`; null: closed on purpose): from now on programs start directly. */
  private end(why: string | null): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.settleReady(false);
    this.updateRef();
    if (why !== null) {
      this.options.warn?.(
        `the spawn server ${why}: programs start from the daemon's own process from now on`,
      );
    }
    for (const request of this.pending.values()) {
      this.release(request);
      request.reject(
        new ExecError(
          request.argv,
          -1,
          `the spawn server ended (${why ?? 'closed'}) before this program finished; it is not run again, as it may have taken effect`,
        ),
      );
    }
    this.pending.clear();
  }

  /**
   * The server keeps this process alive only while it starts and while a request waits for it: an idle one must
   * not hold a test or a stopping daemon.
   */
  private updateRef(): void {
    const busy = this.state === 'starting' || (this.state === 'ready' && this.pending.size > 0);
    if (busy !== this.referenced) setRef(this.child, busy);
    this.referenced = busy;
  }

  private release(request: Request): void {
    if (request.inputFd !== undefined) closeSync(request.inputFd);
    request.inputFd = undefined;
  }
}
