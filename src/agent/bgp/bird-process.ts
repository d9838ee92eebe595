import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { commandLine, run } from '../../exec/run.js';
import { spawnDyingWithParent, spawnProgram } from '../../exec/spawn.js';
import { makeDirectories } from '../../fs/make-directories.js';
import { PRIVATE_MODE } from '../../fs/private-file.js';

/** What `birdc show protocols` says of one protocol. */
export interface ProtocolState {
  readonly name: string;
  readonly proto: string;
  /** BIRD's protocol state: up, start, down… */
  readonly state: string;
  /** For BGP: Established, Active, Connect, Idle…, with the last error when there is one. */
  readonly info: string;
}

const MAX_RESTART_DELAY_MS = 5000;
/** How often an adopted daemon (not a child of this process, so no exit event) is checked for life. */
const ADOPTED_POLL_MS = 100;

export interface BirdProcessOptions {
  readonly namespace: string | null;
  readonly runDir: string;
  readonly log: Logger;
  /**
   * The daemon outlives this process (graceful restart of the agent): it runs in its own session, logs to
   * `bird.log`, records its pid in `bird.pid`, and a later BirdProcess on the same `runDir` adopts it through
   * its control socket instead of starting a second one. False: it dies with this process.
   */
  readonly survivesParent?: boolean;
}

/**
 * One BIRD 2 daemon in a namespace, started by the agent (or adopted from a previous agent), fed a
 * configuration file and reconfigured through its control socket. A daemon that exits is started again (after
 * 200 ms, doubling to 5 s while it keeps dying), with `-R` (graceful restart recovery) when an earlier daemon of
 * this run directory ran: its peers may hold its routes as stale, and recovery makes BIRD set the restart and
 * forwarding-state flags so that they keep them until its End-of-RIB. It relearns the host routes from the
 * kernel table, so they are announced again without the agent.
 */
export class BirdProcess {
  private child: ChildProcess | undefined;
  /** The daemon's pid, whether started here or adopted. */
  private pid: number | undefined;
  private adoptedTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private restartDelay = 200;
  private restartTimer: NodeJS.Timeout | undefined;
  private applied = '';
  /** The one start under way: a restart after a crash and a reconfiguration must not start two daemons. */
  private starting: Promise<void> | undefined;
  /** How many times the daemon was started after it exited (a metric and the status show it). */
  restarts = 0;
  /** Whether the daemon running now was adopted from a previous agent rather than started by this one. */
  adopted = false;
  private crashed = false;
  private triedAdopting = false;
  readonly socket: string;
  private readonly configPath: string;
  private readonly pidPath: string;
  private readonly logPath: string;

  constructor(private readonly options: BirdProcessOptions) {
    this.socket = join(options.runDir, 'bird.ctl');
    this.configPath = join(options.runDir, 'bird.conf');
    this.pidPath = join(options.runDir, 'bird.pid');
    this.logPath = join(options.runDir, 'bird.log');
  }

  get running(): boolean {
    if (this.pid === undefined) return false;
    if (this.child) return this.child.exitCode === null && this.child.signalCode === null;
    return isBird(this.pid);
  }

  /**
   * Writes the configuration and starts the daemon (or adopts the one a previous agent left), or has a running
   * one reload it when it changed. BIRD keeps every session whose configuration did not change across a reload.
   */
  async configure(text: string): Promise<void> {
    if (text === this.applied && this.running) return;
    makeDirectories(this.options.runDir);
    writeFileSync(`${this.configPath}.tmp`, text, { mode: PRIVATE_MODE });
    renameSync(`${this.configPath}.tmp`, this.configPath);
    if (!this.running || this.starting) {
      clearTimeout(this.restartTimer);
      await this.ensureRunning();
    }
    // Also after a start: one already under way may have read the previous file.
    const { stdout } = await this.birdc(['configure']);
    if (!/Reconfigur/.test(stdout)) throw new Error(`BIRD refused the configuration: ${stdout.trim()}`);
    this.applied = text;
  }

  private ensureRunning(): Promise<void> {
    if (this.running && !this.starting) return Promise.resolve();
    this.starting ??= this.adoptOrStart().finally(() => (this.starting = undefined));
    return this.starting;
  }

  /** The state of every protocol, or an error when the daemon does not answer. */
  async protocols(): Promise<ProtocolState[]> {
    const { stdout } = await this.birdc(['show', 'protocols']);
    return parseProtocols(stdout);
  }

  /** Stops the daemon: its sessions close (peers with graceful restart keep its routes as stale a while). */
  async stop(): Promise<void> {
    this.detach();
    const pid = this.pid;
    if (pid === undefined || !this.running) return;
    const child = this.child;
    const exited = child
      ? new Promise<void>((resolve) => child.once('exit', () => resolve()))
      : waitUntil(() => !isBird(pid), 5000);
    process.kill(pid, 'SIGTERM');
    await exited;
  }

  /**
   * Lets go of a daemon that survives this process, leaving it running with its sessions and routes (a
   * restarting agent). A daemon that dies with this process is stopped instead.
   */
  async release(): Promise<void> {
    if (!this.options.survivesParent) return this.stop();
    this.detach();
  }

  private detach(): void {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.adoptedTimer);
  }

  /** Kills the daemon as a crash would (tests). */
  kill(): void {
    if (this.pid !== undefined && this.running) process.kill(this.pid, 'SIGKILL');
  }

  private birdc(args: string[]) {
    return run('birdc', ['-s', this.socket, ...args], { timeoutMs: 5000 });
  }

  private async adoptOrStart(): Promise<void> {
    if (this.options.survivesParent && !this.triedAdopting) {
      this.triedAdopting = true;
      if (await this.adopt()) return;
    }
    await this.start();
  }

  /** Takes over the daemon a previous agent left running, if its pid file names a live BIRD that answers. */
  private async adopt(): Promise<boolean> {
    const pid = readPid(this.pidPath);
    if (pid === undefined || !isBird(pid)) return false;
    try {
      await this.birdc(['show', 'status']);
    } catch {
      return false;
    }
    this.pid = pid;
    this.child = undefined;
    this.adopted = true;
    this.adoptedTimer = setInterval(() => {
      if (this.pid === pid && !isBird(pid)) {
        clearInterval(this.adoptedTimer);
        this.exited(pid, { code: null, signal: null, stderr: `see ${this.logPath}` });
      }
    }, ADOPTED_POLL_MS);
    this.adoptedTimer.unref();
    this.options.log.info({ pid }, 'adopted the running BIRD: its sessions and routes stay as they are');
    return true;
  }

  private async start(): Promise<void> {
    // A daemon of this run directory ran before (crashed, or left by a previous agent and gone since): its peers
    // may keep its routes as stale, and recovery mode tells them to wait for the End-of-RIB.
    const recovering = this.crashed || existsSync(this.pidPath);
    const argv = commandLine(
      'bird',
      ['-f', ...(recovering ? ['-R'] : []), '-c', this.configPath, '-s', this.socket, '-P', this.pidPath],
      this.options.namespace,
    );
    let stderr = '';
    let child: ChildProcess;
    if (this.options.survivesParent) {
      // Its own session, and a log file rather than a pipe: a pipe would break (SIGPIPE) when the agent exits.
      makeDirectories(this.options.runDir);
      const logFd = openSync(this.logPath, 'a', PRIVATE_MODE);
      try {
        child = spawnProgram(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', logFd, logFd] });
      } finally {
        closeSync(logFd);
      }
      child.unref();
    } else {
      child = spawnDyingWithParent(argv, {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child.stderr?.on('data', (b: Buffer) => {
        stderr = (stderr + b.toString()).slice(-2000);
      });
    }
    this.child = child;
    this.pid = child.pid;
    this.adopted = false;
    const pid = child.pid;
    child.once('exit', (code, signal) => {
      if (pid !== undefined) this.exited(pid, { code, signal, stderr: stderr || `see ${this.logPath}` });
    });
    // Ready when its control socket answers; a configuration error ends the process first.
    const started = Date.now();
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`BIRD did not start: ${stderr.trim() || `exited (see ${this.logPath})`}`);
      }
      if (existsSync(this.socket)) {
        try {
          await this.birdc(['show', 'status']);
          break;
        } catch {
          // Not listening yet (or a dead daemon's socket file).
        }
      }
      if (Date.now() - started > 10_000)
        throw new Error('BIRD did not answer on its control socket within 10 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    this.restartDelay = 200;
    if (this.crashed) {
      this.crashed = false;
      this.restarts += 1;
      this.options.log.info({ restarts: this.restarts, recovering }, 'BIRD started again');
    }
  }

  /** The daemon `pid` exited: unless it is being stopped, start it again after the current delay. */
  private exited(
    pid: number,
    how: { code: number | null; signal: NodeJS.Signals | null; stderr: string },
  ): void {
    if (this.pid !== pid) return;
    this.pid = undefined;
    this.child = undefined;
    if (this.stopping) return;
    this.options.log.error(
      { code: how.code, signal: how.signal, stderr: how.stderr.trim().slice(-500) },
      `BIRD exited; starting it again in ${this.restartDelay} ms`,
    );
    this.crashed = true;
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.ensureRunning().catch((error: Error) =>
        this.options.log.error({ err: error.message }, 'cannot start BIRD'),
      );
    }, this.restartDelay);
    this.restartTimer.unref();
    this.restartDelay = Math.min(MAX_RESTART_DELAY_MS, this.restartDelay * 2);
  }

  /** The configuration last written (tests and `status`). */
  configText(): string {
    return existsSync(this.configPath) ? readFileSync(this.configPath, 'utf8') : '';
  }
}

/**
 * Whether `pid` is a live BIRD: a pid file can outlive its daemon and the pid be reused, and a dead daemon not
 * yet reaped by its new parent is a zombie (`/proc/PID/stat`: `pid (comm) state ...`).
 */
function isBird(pid: number): boolean {
  try {
    const m = /^\d+ \((.*)\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return m?.[1] === 'bird' && m[2] !== 'Z' && m[2] !== 'X';
  } catch {
    return false;
  }
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/**
 * `birdc show protocols`: a header, then `name proto table state since info…` per protocol. `since` is one
 * token (a time or a date) in BIRD 2's default format.
 */
export function parseProtocols(text: string): ProtocolState[] {
  const out: ProtocolState[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*)$/.exec(line.trimEnd());
    if (!m || m[1] === 'Name' || m[1] === 'BIRD') continue;
    out.push({ name: m[1]!, proto: m[2]!, state: m[4]!, info: m[6]!.trim() });
  }
  return out;
}
