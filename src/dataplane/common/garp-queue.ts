import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NATIVE_DIR } from '../../paths.js';
import { run as defaultRun, type Runner } from '../../exec/run.js';
import { parseDeviceName, parseIPv4 } from '../../model/index.js';
import type { RouterTarget } from '../types.js';
import { sendGratuitousArp } from './garp.js';

/** The compiled sender (native/garp.c), which `npm run build` puts in dist/native. */
export const GARP_HELPER = join(NATIVE_DIR, 'sfip-garp');

export interface GarpOptions {
  /** Rounds per address, a second apart, as `arping -c 3` sends (Neutron's default). */
  readonly rounds: number;
  readonly intervalMs: number;
  /** Frames per second of one sender process (a request and a reply per address and round). */
  readonly packetsPerSecond: number;
  /** Addresses per sender process, and how many senders run at once across all routers. */
  readonly batchSize: number;
  readonly concurrency: number;
}

export const DEFAULT_GARP_OPTIONS: GarpOptions = {
  rounds: 3,
  intervalMs: 1000,
  packetsPerSecond: 20_000,
  batchSize: 4096,
  concurrency: 2,
};

interface PendingRouter {
  readonly target: RouterTarget;
  readonly addresses: Set<string>;
}

/**
 * Gratuitous ARP for new floating addresses, off the apply path: addresses are queued per router, and a few
 * sender processes at most run at once, each announcing up to `batchSize` addresses, paced. A burst of 10,000
 * new floating IPs is a handful of processes, never one per address. Without the native sender (not built),
 * addresses go through arping one at a time: slow, but still bounded.
 */
export class GarpQueue {
  private readonly pending = new Map<string, PendingRouter>();
  private active = 0;
  private idleWaiters: (() => void)[] = [];
  /** Sender processes started so far (tests and benchmarks check that batches share one). */
  processes = 0;

  constructor(
    private readonly onError: (error: unknown, target: RouterTarget) => void,
    private readonly run: Runner = defaultRun,
    private readonly helper: string | null = existsSync(GARP_HELPER) ? GARP_HELPER : null,
    private readonly options: GarpOptions = DEFAULT_GARP_OPTIONS,
  ) {}

  enqueue(target: RouterTarget, addresses: readonly string[]): void {
    if (addresses.length === 0) return;
    const key = `${target.namespace ?? ''} ${target.gatewayDevice}`;
    const entry = this.pending.get(key) ?? { target, addresses: new Set<string>() };
    for (const ip of addresses) entry.addresses.add(ip);
    this.pending.set(key, entry);
    this.pump();
  }

  /** Resolves when nothing is queued or being sent. */
  whenIdle(): Promise<void> {
    if (this.active === 0 && this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.active < this.options.concurrency && this.pending.size > 0) {
      const [key, entry] = this.pending.entries().next().value as [string, PendingRouter];
      const batch = [...entry.addresses].slice(0, this.options.batchSize);
      for (const ip of batch) entry.addresses.delete(ip);
      // The router goes to the back of the line: one router's 100,000 never starve another's one.
      this.pending.delete(key);
      if (entry.addresses.size > 0) this.pending.set(key, entry);
      this.active++;
      this.send(entry.target, batch)
        .catch((error: unknown) => this.onError(error, entry.target))
        .finally(() => {
          this.active--;
          this.pump();
          if (this.active === 0 && this.pending.size === 0) {
            const waiters = this.idleWaiters;
            this.idleWaiters = [];
            for (const w of waiters) w();
          }
        });
    }
  }

  private async send(target: RouterTarget, addresses: readonly string[]): Promise<void> {
    // Both end up as arguments or input of a program: validated here as at every kernel boundary.
    parseDeviceName(target.gatewayDevice);
    for (const ip of addresses) parseIPv4(ip);
    this.processes++;
    if (!this.helper) {
      for (const ip of addresses) await sendGratuitousArp(target, [ip], this.run, this.options.rounds);
      return;
    }
    const { rounds, intervalMs, packetsPerSecond } = this.options;
    await this.run(
      this.helper,
      [target.gatewayDevice, String(rounds), String(intervalMs), String(packetsPerSecond)],
      { netns: target.namespace, input: addresses.join('\n') + '\n' },
    );
  }
}
