import type { ChildProcess } from 'node:child_process';
import { spawnProgram as spawn } from '../exec/spawn.js';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EtcdServerOptions {
  /** Member name; also names the temporary data directory. */
  readonly name?: string;
  /**
   * Raft timing. etcd refuses a lease TTL shorter than 1.5 election timeouts (rounded up to whole seconds), so
   * short lease TTLs in tests and labs need a short election timeout. Defaults 50 ms / 500 ms: 1 s minimum TTL.
   */
  readonly heartbeatMs?: number;
  readonly electionMs?: number;
  /** etcd's limit of operations per transaction (its default, 128, is small for a router with many floating IPs). */
  readonly maxTxnOps?: number;
}

/**
 * A real single-member etcd server (Debian's etcd-server) for tests, labs and benchmarks: loopback only, free
 * ports, a throwaway data directory in RAM when /dev/shm exists (so fsync costs nothing), removed on stop.
 * `restart` keeps the data, as a real restart would.
 */
export class EtcdServer {
  readonly dataDir: string;
  private child: ChildProcess | undefined;
  private clientPort = 0;
  private peerPort = 0;

  private constructor(private readonly options: EtcdServerOptions) {
    const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
    this.dataDir = mkdtempSync(join(base, `sfip-etcd-${options.name ?? 'lab'}-`));
  }

  static async start(options: EtcdServerOptions = {}): Promise<EtcdServer> {
    const server = new EtcdServer(options);
    server.clientPort = await freePort();
    server.peerPort = await freePort();
    try {
      await server.launch();
    } catch (error) {
      rmSync(server.dataDir, { recursive: true, force: true });
      throw error;
    }
    return server;
  }

  /** `host:port` of the client endpoint, as `--store etcd://HOST:PORT` takes it. */
  get endpoint(): string {
    return `127.0.0.1:${this.clientPort}`;
  }

  get storeSpec(): string {
    return `etcd://${this.endpoint}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Stops the server (SIGTERM, then SIGKILL) and keeps its data, so `launch` brings the same cluster back. */
  async halt(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    // An etcd that already died has emitted its exit: waiting for another would never end.
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  async restart(downMs = 0): Promise<void> {
    await this.halt();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.halt();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Starts etcd on the ports chosen at start and resolves once it answers on the client port. */
  async launch(): Promise<void> {
    if (this.child) return;
    const name = this.options.name ?? 'lab';
    const client = `http://127.0.0.1:${this.clientPort}`;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const child = spawn(
      'etcd',
      [
        '--name',
        name,
        '--data-dir',
        this.dataDir,
        '--listen-client-urls',
        client,
        '--advertise-client-urls',
        client,
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        `${name}=${peer}`,
        '--heartbeat-interval',
        String(this.options.heartbeatMs ?? 50),
        '--election-timeout',
        String(this.options.electionMs ?? 500),
        '--max-txn-ops',
        String(this.options.maxTxnOps ?? 10_000),
        '--logger',
        'zap',
        '--log-level',
        'error',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (e) =>
        reject(new Error(`cannot start etcd: ${e.message}. Is etcd-server installed?`)),
      );
      child.once('exit', (code) =>
        reject(new Error(`etcd exited with ${code} while starting: ${stderr.trim()}`)),
      );
    });
    this.child = child;
    try {
      await Promise.race([failed, waitForHealth(client, 15_000)]);
    } catch (error) {
      await this.halt('SIGKILL');
      throw error;
    }
    failed.catch(() => undefined);
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
  }
}

async function waitForHealth(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await res.json()) as { health?: string };
      if (body.health === 'true') return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`etcd at ${url} did not become healthy in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A loopback TCP port that is free right now (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
