import type { ChildProcess } from 'node:child_process';
import { spawnProgram as spawn } from '../../src/exec/spawn.js';
import { openSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { commandLine } from '../../src/exec/run.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A helper script of the bench, run with tsx inside a namespace; resolves once it prints {"ready":true}. */
export class NamespaceHelper {
  private readonly child: ChildProcess;
  private readonly waiting = new Map<number, (v: unknown) => void>();
  private nextId = 1;
  readonly ready: Promise<void>;

  constructor(netns: string, args: string[]) {
    const script = fileURLToPath(new URL('./latency-probe.ts', import.meta.url));
    const argv = commandLine(process.execPath, ['--import', 'tsx', script, ...args], netns);
    this.child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'], cwd: ROOT });
    let markReady: () => void = () => undefined;
    this.ready = new Promise((r) => (markReady = r));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as { ready?: boolean; id?: number; result?: unknown };
      if (msg.ready) markReady();
      else if (msg.id !== undefined) this.waiting.get(msg.id)?.(msg.result);
    });
  }

  async call<T>(cmd: Record<string, unknown>): Promise<T> {
    await this.ready;
    const id = this.nextId++;
    return new Promise<T>((resolve) => {
      this.waiting.set(id, resolve as (v: unknown) => void);
      this.child.stdin!.write(JSON.stringify({ ...cmd, id }) + '\n');
    });
  }

  close(): void {
    this.child.stdin!.end();
    this.child.kill('SIGKILL');
  }
}

/**
 * `--api-workers` for the daemon: a count, or 'default' to leave it to `sfip serve` (one per core, what an operator
 * runs). 0, the benchmarks' default, serves the API in the agent's process.
 */
export type ApiWorkersSetting = number | 'default';

/** `--api-workers default|N` of a bench script. */
export function parseApiWorkers(text: string): ApiWorkersSetting {
  if (text === 'default') return text;
  if (!/^\d+$/.test(text)) throw new Error(`--api-workers '${text}': expected default or a count, e.g. 0`);
  return Number(text);
}

/** How a setting reads in a bench's output and report. */
export function apiWorkersLabel(setting: ApiWorkersSetting): string {
  return setting === 'default' ? 'default API workers (one per core)' : `${setting} API workers`;
}

/** `sfip serve` as its own process (the build, through bin/sfip as deployed), so its memory is its own. */
export class ServerProcess {
  readonly child: ChildProcess;
  readonly started = performance.now();
  readonly exited: Promise<void>;

  /**
   * `root`: the source tree whose build to run (this one by default), e.g. an older commit to compare with.
   * `serveArgs` come after the defaults below and override them (e.g. another --resync-interval).
   * `apiWorkers`: 0 unless given (see below); 'default' runs what `sfip serve` runs without the option.
   */
  constructor(
    stateDir: string,
    port: number,
    nodeArgs: readonly string[] = [],
    root = ROOT,
    serveArgs: readonly string[] = [],
    apiWorkers: ApiWorkersSetting = 0,
  ) {
    this.child = spawn(
      process.execPath,
      [
        ...nodeArgs,
        `${root}bin/sfip`,
        'serve',
        '--state-dir',
        stateDir,
        '--port',
        String(port),
        '--no-garp',
        // One process unless asked, as every earlier row was measured: RSS, CPU and the churn's figures are then the
        // daemon's. With workers, cpuSeconds() counts theirs apart.
        ...(apiWorkers === 'default' ? [] : ['--api-workers', String(apiWorkers)]),
        '--resync-interval',
        '1m',
        '--log-level',
        'warn',
        // The benchmark creates thousands of floating IPs as one caller, as fast as the API answers.
        '--rate-limit',
        'off',
        '--refusal-limit',
        'off',
        // SFIP_BENCH_DAEMON_LOG=FILE: the daemon's info log goes there (heap trims, passes), e.g. to see why RSS is
        // what it is; the figures are measured without it.
        ...(process.env.SFIP_BENCH_DAEMON_LOG ? ['--log-level', 'info'] : []),
        ...serveArgs,
      ],
      {
        stdio: [
          'ignore',
          process.env.SFIP_BENCH_DAEMON_LOG ? openSync(process.env.SFIP_BENCH_DAEMON_LOG, 'a') : 'ignore',
          'inherit',
        ],
        cwd: root,
      },
    );
    this.exited = new Promise((r) => this.child.on('exit', () => r()));
  }

  /** Polls /readyz until the agent has reconciled every router; returns ms since spawn. */
  async whenReady(url: string, timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const ok = await fetch(`${url}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return performance.now() - this.started;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(
          `sfip serve ended (${this.child.signalCode ?? `exit code ${this.child.exitCode}`}) before it was ready`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    // Stopped, not left running: a daemon the run gave up on would keep programming the state's routers (pins are
    // keyed by router id) under the next run's feet, holding its namespaces and the benchmark lock's machine.
    this.child.kill('SIGKILL');
    await this.exited;
    throw new Error(`sfip serve was not ready within ${timeoutMs} ms (stopped)`);
  }

  /** Resident and peak memory from /proc, in MiB. */
  memory(): { rssMiB: number; peakMiB: number } {
    const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
    return { rssMiB: kb('VmRSS') / 1024, peakMiB: kb('VmHWM') / 1024 };
  }

  /**
   * CPU seconds so far of the daemon itself, of its children that exited (nft, ip, bpftool...), and of its children
   * still running with theirs that exited (the spawn server and the programs it started, the long-lived channels):
   * on a shared machine the wall time depends on the load, the CPU it took much less. `workers`: the part of
   * `running` that is the API workers' (`--api-workers N`), so the daemon's CPU with workers is daemon + workers.
   */
  cpuSeconds(): {
    daemon: number;
    children: number;
    running: number;
    /** `running` split: the API workers, the spawn server itself, the programs it started (reaped by it), the rest. */
    workers: number;
    server: number;
    serverPrograms: number;
    channels: number;
    /** `channels` by program (its comm: ip, sfip-bpf-load, sfip-nft-apply...). */
    channelsBy: Record<string, number>;
  } {
    const ticks = (pid: number | string) => {
      // After "pid (comm) ": state is field 0, utime 11, stime 12, cutime 13, cstime 14 (proc(5), in clock ticks).
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ').map(Number);
      return { own: (fields[11]! + fields[12]!) / 100, reaped: (fields[13]! + fields[14]!) / 100 };
    };
    const pid = this.child.pid!;
    const { own, reaped } = ticks(pid);
    let running = 0;
    let workers = 0;
    let server = 0;
    let serverPrograms = 0;
    let channels = 0;
    const channelsBy: Record<string, number> = {};
    for (const child of this.childPids()) {
      try {
        const t = ticks(child);
        running += t.own + t.reaped;
        const cmdline = readFileSync(`/proc/${child}/cmdline`, 'utf8');
        if (cmdline.includes('api-worker-main')) {
          workers += t.own + t.reaped;
        } else if (cmdline.includes('spawn-server-main')) {
          // Through setpriv, which execs: the command line is the server's own.
          server += t.own;
          serverPrograms += t.reaped;
        } else {
          channels += t.own + t.reaped;
          const comm = readFileSync(`/proc/${child}/comm`, 'utf8').trim();
          channelsBy[comm] = (channelsBy[comm] ?? 0) + t.own + t.reaped;
        }
      } catch {
        // exited meanwhile: counted in `children` once reaped
      }
    }
    return { daemon: own, children: reaped, running, workers, server, serverPrograms, channels, channelsBy };
  }

  /**
   * The API workers' PIDs (`--api-workers`), to match each one's `--cpu-prof` profile (named by PID) and /proc
   * figures to it.
   */
  workerPids(): number[] {
    return this.childPids().filter((child) => {
      try {
        return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('api-worker-main');
      } catch {
        return false; // exited meanwhile
      }
    });
  }

  private childPids(): number[] {
    const pid = this.child.pid!;
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  }

  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    await this.exited;
  }
}
