import type { BackendName, FloatingIpStatus } from '../model/index.js';
import type { Store } from '../store/index.js';
import {
  readConntrackUsage,
  type ConntrackUsage,
  type Dataplane,
  type FloatingIpCounters,
} from '../dataplane/index.js';
import { FloatingIpIndex, type IndexedFloatingIp, type IndexedRouter } from './floating-ip-index.js';
import { CHECK_EVERY, LoopBudget } from './slices.js';

/** A floating IP as the store says: the index's own entry, not a copy (100,000 copies were 7.6 MiB). */
export type ObservedFloatingIp = Pick<
  IndexedFloatingIp,
  'id' | 'address' | 'fixedIp' | 'status' | 'statusReason'
>;

export interface ObservedRouter {
  readonly id: string;
  readonly name: string;
  readonly backend: BackendName;
  readonly namespace: string | null;
  readonly gatewayDevice: string | null;
  /** Why the router cannot be programmed; empty when it can. */
  readonly problem: string;
  /** By address. */
  readonly floatingIps: readonly ObservedFloatingIp[];
  /**
   * The counters of `floatingIps[i]` at `counters[i]`: null when the router's backend keeps no counters or they
   * could not be read. Beside the floating IPs rather than in them, so that those are the index's entries.
   */
  readonly counters: readonly (FloatingIpCounters | null)[];
  readonly statusCounts: Readonly<Record<FloatingIpStatus, number>>;
  readonly countersSupported: boolean;
  readonly countersError: string | null;
}

export interface ObservedConntrack {
  /** Null is the host's own namespace. */
  readonly namespace: string | null;
  readonly usage: ConntrackUsage | null;
  readonly error: string | null;
}

/**
 * One consistent look at the store and the kernel, shared by /metrics, the dashboard and `sfip top`. A router
 * whose floating IPs and counters did not change since the previous observation keeps the same ObservedRouter
 * object, so a reader can tell an unchanged router by identity.
 */
export interface Observation {
  /** Epoch milliseconds when the kernel was read. */
  readonly at: number;
  /** How long reading the kernel took, in milliseconds. */
  readonly readMs: number;
  readonly routers: readonly ObservedRouter[];
  readonly conntrack: readonly ObservedConntrack[];
}

export interface ObserverOptions {
  readonly store: Store;
  readonly dataplaneFor: (name: BackendName) => Dataplane;
  readonly defaultBackend: BackendName;
  /** How long one observation is reused: scrapes and dashboard polls within it cost nothing. Default 1 s. */
  readonly cacheMs?: number;
  /**
   * How long a reader waits for a new observation before it is served the previous one. Reading 100,000
   * counters takes about a second, so a scrape does not wait for it: it gets the last complete read. When the
   * last read took longer than this, readers do not wait at all (they would get the previous read anyway).
   * Default 0.5 s.
   */
  readonly maxWaitMs?: number;
  /** How many routers' kernels are read at once. Default 4. */
  readonly concurrency?: number;
  readonly conntrackUsage?: (namespace: string | null) => Promise<ConntrackUsage>;
  readonly now?: () => number;
}

interface RouterMemory {
  readonly meta: IndexedRouter;
  readonly version: number;
  /** The dataplane's answer the counters were taken from: a dataplane answers an unchanged read with the same array. */
  readonly read: readonly FloatingIpCounters[] | undefined;
  readonly observed: ObservedRouter;
}

/**
 * Reads what the store says (through a FloatingIpIndex that follows the change feed) and what the dataplanes
 * count, at most once per `cacheMs`, however many readers ask: concurrent callers share one read in flight, and
 * a reader waits at most `maxWaitMs` for it before getting the previous observation. Each router's counters
 * come from one batched read. Work over all floating IPs yields to the loop every few ms (LoopBudget, slices.ts).
 */
export class Observer {
  private cached: Observation | undefined;
  private inFlight: Promise<Observation> | undefined;
  private readonly now: () => number;
  private readonly index: FloatingIpIndex;
  private readonly memory = new Map<string, RouterMemory>();
  /** Wall time the last complete read took (store and kernel), in ms. */
  private lastReadMs = 0;

  constructor(private readonly options: ObserverOptions) {
    this.now = options.now ?? Date.now;
    this.index = new FloatingIpIndex(options.store, options.defaultBackend);
  }

  /** The last complete observation, if any, without reading anything. */
  latest(): Observation | undefined {
    return this.cached;
  }

  observe(): Promise<Observation> {
    const cacheMs = this.options.cacheMs ?? 1000;
    const cached = this.cached;
    if (cached && this.now() - cached.at < cacheMs) return Promise.resolve(cached);
    const refresh = (this.inFlight ??= this.read().finally(() => (this.inFlight = undefined)));
    if (!cached) return refresh;
    const maxWaitMs = this.options.maxWaitMs ?? 500;
    // When reads take longer than a reader would wait (100,000 floating IPs), waiting only delays the same answer.
    if (this.lastReadMs > maxWaitMs) return Promise.resolve(cached);
    let timer: NodeJS.Timeout | undefined;
    const stale = new Promise<Observation>((resolve) => {
      timer = setTimeout(() => resolve(cached), maxWaitMs);
    });
    // A failed refresh leaves the previous observation in place; it is retried by the next reader.
    return Promise.race([refresh.catch(() => cached), stale]).finally(() => clearTimeout(timer));
  }

  private async read(): Promise<Observation> {
    const wallStart = performance.now();
    await this.index.sync();
    const started = this.now();
    const metas = this.index.routers();
    const routers = await mapLimited(metas, this.options.concurrency ?? 4, (meta) => this.readRouter(meta));
    const live = new Set(metas.map((m) => m.id));
    for (const id of this.memory.keys()) if (!live.has(id)) this.memory.delete(id);
    const namespaces = [...new Set(metas.filter((m) => m.target).map((m) => m.namespace))];
    const conntrack = await mapLimited(namespaces, this.options.concurrency ?? 4, (ns) =>
      this.readConntrack(ns),
    );
    const at = this.now();
    const observation: Observation = { at, readMs: at - started, routers, conntrack };
    this.cached = observation;
    this.lastReadMs = performance.now() - wallStart;
    return observation;
  }

  private async readRouter(meta: IndexedRouter): Promise<ObservedRouter> {
    const budget = new LoopBudget();
    const dataplane = this.options.dataplaneFor(meta.backend);
    const supported = typeof dataplane.counters === 'function';
    const before = this.memory.get(meta.id);
    let countersError: string | null = null;
    let read: readonly FloatingIpCounters[] | undefined;
    if (supported && meta.target) {
      try {
        read = await dataplane.counters!(meta.target);
      } catch (error) {
        countersError = (error as Error).message;
      }
    }
    const version = this.index.version(meta.id);
    const fips = this.index.floatingIps(meta.id);
    const unchanged =
      before !== undefined &&
      before.meta === meta &&
      before.version === version &&
      before.observed.countersSupported === supported &&
      before.observed.countersError === countersError;
    // The same array as last time: the dataplane saw nothing change, so neither map nor compare is needed.
    if (unchanged && before.read === read) return before.observed;
    const counters = await countersOf(fips, read, budget);
    if (unchanged && (await sameCounters(before.observed.counters, counters, budget))) {
      this.memory.set(meta.id, { ...before, read });
      return before.observed;
    }
    const statusCounts: Record<FloatingIpStatus, number> = { ACTIVE: 0, DOWN: 0, ERROR: 0 };
    for (let i = 0; i < fips.length; i++) {
      if (i > 0 && i % CHECK_EVERY === 0) await budget.check();
      statusCounts[fips[i]!.status]++;
    }
    const observed: ObservedRouter = {
      id: meta.id,
      name: meta.name,
      backend: meta.backend,
      namespace: meta.namespace,
      gatewayDevice: meta.gatewayDevice,
      problem: meta.problem,
      floatingIps: fips,
      counters,
      statusCounts,
      countersSupported: supported,
      countersError,
    };
    this.memory.set(meta.id, { meta, version, read, observed });
    return observed;
  }

  private async readConntrack(namespace: string | null): Promise<ObservedConntrack> {
    try {
      const usage = await (this.options.conntrackUsage ?? readConntrackUsage)(namespace);
      return { namespace, usage, error: null };
    } catch (error) {
      return { namespace, usage: null, error: (error as Error).message };
    }
  }
}

/** Each floating IP's counters from the dataplane's answer (by address), in the floating IPs' order. */
async function countersOf(
  fips: readonly ObservedFloatingIp[],
  read: readonly FloatingIpCounters[] | undefined,
  budget: LoopBudget,
): Promise<(FloatingIpCounters | null)[]> {
  const counters: (FloatingIpCounters | null)[] = new Array(fips.length).fill(null);
  if (!read) return counters;
  // Only for this read: the observation keeps the counters by position, not this map (3.5 MiB at 100,000).
  const byAddress = new Map<string, FloatingIpCounters>();
  for (let i = 0; i < read.length; i++) {
    if (i > 0 && i % CHECK_EVERY === 0) await budget.check();
    byAddress.set(read[i]!.floatingIp, read[i]!);
  }
  for (let i = 0; i < fips.length; i++) {
    if (i > 0 && i % CHECK_EVERY === 0) await budget.check();
    counters[i] = byAddress.get(fips[i]!.address) ?? null;
  }
  return counters;
}

/** Whether two reads of the same floating IPs (same order) counted the same. */
async function sameCounters(
  a: readonly (FloatingIpCounters | null)[],
  b: readonly (FloatingIpCounters | null)[],
  budget: LoopBudget,
): Promise<boolean> {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (i > 0 && i % CHECK_EVERY === 0) await budget.check();
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (
      !x ||
      !y ||
      x.packetsIn !== y.packetsIn ||
      x.packetsOut !== y.packetsOut ||
      x.bytesIn !== y.bytesIn ||
      x.bytesOut !== y.bytesOut
    )
      return false;
  }
  return true;
}

async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
