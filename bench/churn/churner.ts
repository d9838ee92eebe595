import { ApiError, type ApiClient, type Json } from '../../src/client/api-client.js';
import { nowUs } from '../../src/lab/tagged-traffic.js';
import { notActive } from '../fip-statuses.js';
import type { ChurnPort } from './churn-lab.js';
import { Timeline } from './ownership.js';

export type ChurnOp = 'create' | 'associate' | 'move' | 'disassociate' | 'delete';

export interface ChurnerOptions {
  readonly api: ApiClient;
  readonly externalNetworkId: string;
  readonly pool: readonly string[];
  readonly ports: readonly ChurnPort[];
  /** Called after every acknowledged change with the keys whose generation moved (for the senders' tags). */
  readonly onChange: (inbound: [string, number][], outbound: [string, number][]) => void;
  readonly seed: number;
}

interface Fip {
  readonly id: string;
  port: string | null;
}

/** A small deterministic PRNG (mulberry32), so a failing run can be repeated with the same seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Creates, associates, moves, disassociates and deletes floating IPs through the API, one change per key at a
 * time, and records every acknowledged change with the window of its request: the ground truth the packets are
 * judged against. Inbound keys are floating addresses (value: fixed IP); outbound keys are fixed IPs (value:
 * floating address).
 */
export class Churner {
  readonly inbound = new Map<string, Timeline>();
  readonly outbound = new Map<string, Timeline>();
  readonly counts: Record<ChurnOp, number> = { create: 0, associate: 0, move: 0, disassociate: 0, delete: 0 };
  readonly failures: string[] = [];
  readonly latenciesMs: number[] = [];
  private readonly fips = new Map<string, Fip>();
  private readonly busy = new Set<string>();
  private readonly random: () => number;

  constructor(private readonly o: ChurnerOptions) {
    this.random = prng(o.seed);
    for (const a of o.pool) this.inbound.set(a, new Timeline(null));
    for (const p of o.ports) this.outbound.set(p.fixedIp, new Timeline(null));
  }

  get allocated(): number {
    return this.fips.size;
  }

  /** Floating address -> fixed IP (null when unassociated) as the churner last had acknowledged. */
  expected(): Map<string, string | null> {
    return new Map([...this.fips].map(([a, f]) => [a, f.port]));
  }

  private pick<T>(items: readonly T[]): T | undefined {
    return items.length === 0 ? undefined : items[Math.floor(this.random() * items.length)];
  }

  private freePorts(): string[] {
    const used = new Set([...this.fips.values()].map((f) => f.port));
    return this.o.ports.map((p) => p.fixedIp).filter((ip) => !used.has(ip) && !this.busy.has(ip));
  }

  private idle(filter: (f: Fip) => boolean): string[] {
    return [...this.fips].filter(([a, f]) => !this.busy.has(a) && filter(f)).map(([a]) => a);
  }

  /**
   * Creates associated floating IPs before traffic starts, so that flows exist through them when they first
   * move: that is when a stateful dataplane keeps delivering to the old VM.
   */
  async populate(count: number, timeoutMs = 30_000): Promise<void> {
    for (let i = 0; i < count; i++) {
      const address = this.pick(this.o.pool.filter((a) => !this.fips.has(a)));
      const port = this.pick(this.freePorts());
      if (!address || !port) return;
      await this.change('create', address, port, () => this.create(address, port));
    }
    await this.untilActive(timeoutMs);
  }

  /**
   * Waits until every floating IP made so far reports ACTIVE (applied in the kernel). The first packet of a flow
   * must follow its translation: a stateful dataplane without conntrack cleanup keeps an untranslated flow's
   * entry for as long as packets refresh it, so a stream started early would never be translated at all (a
   * fresh-machine run saw its inbound stream receive 0 packets that way).
   */
  private async untilActive(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const pending = await notActive(
        this.o.api,
        [...this.fips.values()].map((f) => f.id),
      );
      if (pending.length === 0) return;
      if (performance.now() > deadline)
        throw new Error(`floating IPs not ACTIVE ${timeoutMs} ms after populating: ${pending.join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Chooses and performs one operation; resolves when it is acknowledged (or refused). */
  async step(): Promise<ChurnOp | undefined> {
    const freeAddresses = this.o.pool.filter((a) => !this.fips.has(a) && !this.busy.has(a));
    const freePorts = this.freePorts();
    const associated = this.idle((f) => f.port !== null);
    const unassociated = this.idle((f) => f.port === null);
    const fill = this.fips.size / this.o.pool.length;
    const weights: [ChurnOp, number][] = [
      ['create', freeAddresses.length > 0 ? (fill < 0.6 ? 3 : 1) : 0],
      ['associate', unassociated.length > 0 && freePorts.length > 0 ? 2 : 0],
      ['move', associated.length > 0 && freePorts.length > 0 ? 3 : 0],
      ['disassociate', associated.length > 0 ? 1 : 0],
      ['delete', this.idle(() => true).length > 0 ? (fill > 0.4 ? 2 : 0.5) : 0],
    ];
    const total = weights.reduce((s, [, w]) => s + w, 0);
    if (total === 0) return undefined;
    let x = this.random() * total;
    const op = weights.find(([, w]) => (x -= w) < 0)?.[0] ?? 'move';
    switch (op) {
      case 'create': {
        const address = this.pick(freeAddresses)!;
        const port = this.random() < 0.75 ? (this.pick(freePorts) ?? null) : null;
        return this.change(op, address, port, () => this.create(address, port));
      }
      case 'associate':
      case 'move': {
        const address = this.pick(op === 'move' ? associated : unassociated)!;
        const port = this.pick(freePorts)!;
        return this.change(op, address, port, () => this.setPort(address, port));
      }
      case 'disassociate': {
        const address = this.pick(associated)!;
        return this.change(op, address, null, () => this.setPort(address, null));
      }
      case 'delete': {
        const address = this.pick(this.idle(() => true))!;
        return this.change(op, address, null, async () => {
          await this.o.api.delete(`/v2.0/floatingips/${this.fips.get(address)!.id}`);
          this.fips.delete(address);
        });
      }
    }
  }

  private portId(fixedIp: string): string {
    return this.o.ports.find((p) => p.fixedIp === fixedIp)!.portId;
  }

  private async create(address: string, port: string | null): Promise<void> {
    const body = {
      floatingip: {
        floating_network_id: this.o.externalNetworkId,
        floating_ip_address: address,
        ...(port && { port_id: this.portId(port), fixed_ip_address: port }),
      },
    };
    const fip = (await this.o.api.post<{ floatingip: Json }>('/v2.0/floatingips', body)).floatingip;
    this.fips.set(address, { id: String(fip.id), port });
  }

  private async setPort(address: string, port: string | null): Promise<void> {
    const fip = this.fips.get(address)!;
    await this.o.api.put(`/v2.0/floatingips/${fip.id}`, {
      floatingip: port === null ? { port_id: null } : { port_id: this.portId(port), fixed_ip_address: port },
    });
    fip.port = port;
  }

  /** Runs one request with its key and ports reserved, and records the change once it is acknowledged. */
  private async change(
    op: ChurnOp,
    address: string,
    newPort: string | null,
    request: () => Promise<void>,
  ): Promise<ChurnOp> {
    const oldPort = this.fips.get(address)?.port ?? null;
    const keys = [address, ...(oldPort ? [oldPort] : []), ...(newPort ? [newPort] : [])];
    for (const k of keys) this.busy.add(k);
    const startUs = nowUs();
    try {
      await request();
    } catch (error) {
      const status = error instanceof ApiError ? `${error.status} ${error.type}: ` : '';
      this.failures.push(`${op} ${address}: ${status}${(error as Error).message}`);
      return op;
    } finally {
      for (const k of keys) this.busy.delete(k);
    }
    const ackUs = nowUs();
    this.latenciesMs.push((ackUs - startUs) / 1000);
    this.counts[op]++;
    const inbound = this.inbound.get(address)!;
    const gen = inbound.generation + 1;
    inbound.add({ startUs, ackUs, value: newPort, gen });
    const outbound: [string, number][] = [];
    for (const [port, value] of [
      [oldPort, null],
      [newPort, address],
    ] as const) {
      if (port === null) continue;
      const t = this.outbound.get(port)!;
      if (t.current === value) continue;
      t.add({ startUs, ackUs, value, gen: t.generation + 1 });
      outbound.push([port, t.generation]);
    }
    this.o.onChange([[address, gen]], outbound);
    return op;
  }
}
