import type { ChildProcess } from 'node:child_process';
import { spawnProgram as spawn } from '../../src/exec/spawn.js';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ServeProcessOptions {
  readonly stateDir: string;
  readonly port: number;
  readonly backend: string;
  /** Further `sfip serve` arguments, e.g. ['--no-conntrack-cleanup']. */
  readonly args?: readonly string[];
  /** Set in serve's environment beside the caller's (e.g. a failpoint, see src/dataplane/common/apply-failpoint.ts). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Where serve's stderr goes; its stdout (the JSON log) is kept in `log`. `keep`: its last lines are kept too, and
   * named when serve exits before it is ready (a start refused with nothing on stdout said nothing otherwise).
   */
  readonly stderr?: 'inherit' | 'ignore' | 'keep';
}

/**
 * `sfip serve` as its own process, from the build (bin/sfip), so that its memory is its own and it can be killed
 * with SIGKILL at any moment.
 */
export class ServeProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly exited: Promise<number | null>;
  readonly log: string[] = [];
  /** The last lines of serve's stderr, with `stderr: 'keep'`. */
  private readonly stderrTail: string[] = [];

  constructor(readonly options: ServeProcessOptions) {
    this.url = `http://127.0.0.1:${options.port}`;
    this.child = spawn(
      process.execPath,
      [
        `${ROOT}bin/sfip`,
        'serve',
        '--state-dir',
        options.stateDir,
        '--port',
        String(options.port),
        '--backend',
        options.backend,
        '--no-garp',
        '--log-level',
        'warn',
        ...(options.args ?? []),
      ],
      {
        stdio: ['ignore', 'pipe', options.stderr === 'keep' ? 'pipe' : (options.stderr ?? 'inherit')],
        cwd: ROOT,
        ...(options.env && { env: { ...process.env, ...options.env } }),
      },
    );
    this.child.stdout!.setEncoding('utf8');
    let partial = '';
    this.child.stdout!.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      this.log.push(...lines.filter(Boolean));
      if (this.log.length > 2000) this.log.splice(0, this.log.length - 2000);
    });
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (chunk: string) => {
      this.stderrTail.push(...chunk.split('\n').filter(Boolean));
      if (this.stderrTail.length > 20) this.stderrTail.splice(0, this.stderrTail.length - 20);
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    // If the test itself dies, serve must not outlive it holding the port and programming the lab.
    const orphanGuard = () => this.child.kill('SIGKILL');
    process.once('exit', orphanGuard);
    void this.exited.then(() => process.off('exit', orphanGuard));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Polls /readyz until the agent has reconciled every router once; returns how long that took. */
  async whenReady(timeoutMs = 60_000): Promise<number> {
    const started = performance.now();
    let exited = false;
    void this.exited.then(() => (exited = true));
    let last = 'no answer';
    while (performance.now() - started < timeoutMs) {
      if (exited) {
        const said =
          [...this.log.slice(-5), ...this.stderrTail.slice(-5)].join(' | ') || 'nothing on stdout or stderr';
        throw new Error(`sfip serve exited before it was ready: ${said}`);
      }
      const ok = await fetch(`${this.url}/readyz`).then(
        async (r) => {
          last = `${r.status} ${(await r.text()).slice(0, 500)}`;
          return r.status === 200;
        },
        () => false,
      );
      if (ok) return performance.now() - started;
      await new Promise((r) => setTimeout(r, 25));
    }
    // What /readyz said last: a router that fails (503 naming it) reads differently from a daemon that never answered.
    throw new Error(`sfip serve was not ready within ${timeoutMs} ms; /readyz said: ${last}`);
  }

  /** Resident memory in MiB, from /proc. */
  rssMiB(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
  }

  /** The command lines of serve's direct children (the kernel tools it is running right now). */
  children(): string[] {
    const out: string[] = [];
    try {
      for (const task of readdirSync(`/proc/${this.pid}/task`)) {
        const ids = readFileSync(`/proc/${this.pid}/task/${task}/children`, 'utf8').trim();
        for (const id of ids ? ids.split(' ') : []) {
          try {
            const cmd = readFileSync(`/proc/${id}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
            // The agent's long-lived nft and ip processes (one per namespace) are always there: they count as a
            // running tool only while they work on a request, not while they wait for the next one.
            if (CHANNEL.test(cmd)) {
              if (channelBusy(id)) out.push(`${cmd} (busy)`);
            } else out.push(cmd);
          } catch {
            /* already gone */
          }
        }
      }
    } catch {
      /* serve itself is gone */
    }
    return out;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }

  /** SIGTERM, and how long serve took to stop; SIGKILL (and an error) if it does not stop within `graceMs`. */
  async stop(graceMs = 10_000): Promise<number> {
    const started = performance.now();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return 0;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
    const took = performance.now() - started;
    if (this.child.signalCode === 'SIGKILL')
      throw new Error(`sfip serve did not stop within ${graceMs} ms of SIGTERM`);
    return took;
  }
}

/**
 * The agent's long-lived per-namespace tools (src/dataplane/common/netns-channels.ts) and its one set dump helper
 * (counter reads and conntrack deletes, src/dataplane/common/set-dump-channel.ts).
 */
const CHANNEL =
  /(^|\/)(nft -i|sfip-nft-apply|ip (-j -d )?-force -batch -|sfip-nft-set-dump --serve|sfip-bpf-load)$/;

/**
 * Whether a channel process is working on a request: running, or waiting on anything but its input pipe (a
 * netlink answer, for instance). Idle, it sleeps reading the socket its requests arrive on.
 */
function channelBusy(pid: string): boolean {
  const state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0];
  if (state === 'R') return true;
  const wchan = readFileSync(`/proc/${pid}/wchan`, 'utf8').trim();
  return wchan !== '' && wchan !== '0' && !/unix_stream_read|pipe_read|wait_woken|do_select|poll/.test(wchan);
}
