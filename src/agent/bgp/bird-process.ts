import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { commandLine, run } from '../../exec/run.js';
import { spawnProgram } from '../../exec/spawn.js';
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

/** Like `run` and the channels: BIRD dies with the agent, so a killed agent's node stops advertising at once. */
const DIE_WITH_PARENT = ['setpriv', '--pdeathsig', 'KILL', '--'];
const MAX_RESTART_DELAY_MS = 5000;

/**
 * One BIRD 2 daemon in a namespace, started by the agent, fed a configuration file and reconfigured through
 * its control socket. A daemon that exits is started again (after 200 ms, doubling to 5 s while it keeps
 * dying); it relearns the host routes from the kernel table, so they are announced again without the agent.
 */
export class BirdProcess {
  private child: ChildProcess | undefined;
  private stopping = false;
  private restartDelay = 200;
  private restartTimer: NodeJS.Timeout | undefined;
  private applied = '';
  /** The one start under way: a restart after a crash and a reconfiguration must not start two daemons. */
  private starting: Promise<void> | undefined;
  /** How many times the daemon was started after it exited (a metric and the status show it). */
  restarts = 0;
  private crashed = false;
  readonly socket: string;
  private readonly configPath: string;

  constructor(
    private readonly options: {
      readonly namespace: string | null;
      readonly runDir: string;
      readonly log: Logger;
    },
  ) {
    this.socket = join(options.runDir, 'bird.ctl');
    this.configPath = join(options.runDir, 'bird.conf');
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Writes the configuration and starts the daemon, or has a running one reload it when it changed. */
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
    this.starting ??= this.start().finally(() => (this.starting = undefined));
    return this.starting;
  }

  /** The state of every protocol, or an error when the daemon does not answer. */
  async protocols(): Promise<ProtocolState[]> {
    const { stdout } = await this.birdc(['show', 'protocols']);
    return parseProtocols(stdout);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || !this.running) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }

  /** Kills the daemon as a crash would (tests). */
  kill(): void {
    this.child?.kill('SIGKILL');
  }

  private birdc(args: string[]) {
    return run('birdc', ['-s', this.socket, ...args], { timeoutMs: 5000 });
  }

  private async start(): Promise<void> {
    const argv = commandLine(
      'bird',
      ['-f', '-c', this.configPath, '-s', this.socket],
      this.options.namespace,
    );
    const child = spawnProgram(DIE_WITH_PARENT[0]!, [...DIE_WITH_PARENT.slice(1), ...argv], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-2000);
    });
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopping) return;
      this.options.log.error(
        { code, signal, stderr: stderr.trim().slice(-500) },
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
    });
    // Ready when its control socket answers; a configuration error ends the process first.
    const started = Date.now();
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`BIRD did not start: ${stderr.trim() || 'exited'}`);
      }
      if (existsSync(this.socket)) {
        try {
          await this.birdc(['show', 'status']);
          break;
        } catch {
          // Not listening yet.
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
      this.options.log.info({ restarts: this.restarts }, 'BIRD started again');
    }
  }

  /** The configuration last written (tests and `status`). */
  configText(): string {
    return existsSync(this.configPath) ? readFileSync(this.configPath, 'utf8') : '';
  }
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
