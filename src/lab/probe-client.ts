import type { ChildProcess } from 'node:child_process';
import { spawnProgram as spawn } from '../exec/spawn.js';
import { createInterface } from 'node:readline';
import { parseNamespaceName } from '../model/names.js';
import { nodeProgram } from '../paths.js';
import type { ProbeCommand } from './netprobe.js';

/** A netprobe process inside one namespace, driven over stdin/stdout. */
export class Probe {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private readonly ready: Promise<void>;

  constructor(
    readonly namespace: string,
    name: string,
  ) {
    const argv = nodeProgram('lab/netprobe');
    this.child = spawn('ip', ['netns', 'exec', parseNamespaceName(namespace), ...argv, '--rpc'], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, PROBE_NAME: name },
    });
    let markReady: () => void;
    this.ready = new Promise((r) => (markReady = r));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as { ready?: boolean; id?: number; result?: unknown; error?: string };
      if (msg.ready) return markReady();
      const waiter = this.pending.get(msg.id!);
      this.pending.delete(msg.id!);
      if (msg.error !== undefined) waiter?.reject(new Error(msg.error));
      else waiter?.resolve(msg.result);
    });
    this.child.on('exit', () => {
      for (const w of this.pending.values()) w.reject(new Error(`probe in ${namespace} exited`));
      this.pending.clear();
    });
  }

  async call<T = unknown>(cmd: ProbeCommand): Promise<T> {
    await this.ready;
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin!.write(JSON.stringify({ id, cmd }) + '\n');
    });
  }

  /** Like call, but a failure is returned as `{ error }` instead of thrown, for asserting that traffic fails. */
  async attempt<T = unknown>(cmd: ProbeCommand): Promise<T | { error: string }> {
    return this.call<T>(cmd).catch((e: Error) => ({ error: e.message }));
  }

  close(): void {
    this.child.stdin!.end();
    this.child.kill();
  }
}
