import { fipOfRouterKey, type BackendName, type FloatingIpStatus } from '../model/index.js';
import type { Store } from '../store/index.js';
import {
  readConntrackUsage,
  routerIntent,
  type ConntrackUsage,
  type Dataplane,
  type FloatingIpCounters,
  type RouterTarget,
} from '../dataplane/index.js';

export interface ObservedFloatingIp {
  readonly id: string;
  readonly address: string;
  readonly fixedIp: string | null;
  readonly status: FloatingIpStatus;
  readonly statusReason: string;
  /** Null when the router's backend keeps no counters or they could not be read. */
  readonly counters: FloatingIpCounters | null;
}

export interface ObservedRouter {
  readonly id: string;
  readonly name: string;
  readonly backend: BackendName;
  readonly namespace: string | null;
  readonly gatewayDevice: string | null;
  /** Why the router cannot be programmed; empty when it can. */
  readonly problem: string;
  readonly floatingIps: readonly ObservedFloatingIp[];
  readonly countersSupported: boolean;
  readonly countersError: string | null;
}

export interface ObservedConntrack {
  /** Null is the host's own namespace. */
  readonly namespace: string | null;
  readonly usage: ConntrackUsage | null;
  readonly error: string | null;
}

/** One consistent look at the store and the kernel, shared by /metrics, the dashboard and `sfip top`. */
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
  /** How many routers' kernels are read at once. Default 4. */
  readonly concurrency?: number;
  readonly conntrackUsage?: (namespace: string | null) => Promise<ConntrackUsage>;
  readonly now?: () => number;
}

interface RouterPlan {
  readonly router: Omit<ObservedRouter, 'floatingIps' | 'countersSupported' | 'countersError'>;
  readonly target: RouterTarget | null;
  readonly floatingIps: Omit<ObservedFloatingIp, 'counters'>[];
}

/**
 * Reads what the store says and what the dataplanes count, at most once per `cacheMs`, however many readers
 * ask: concurrent callers share one read in flight. Each router's counters come from one batched read.
 */
export class Observer {
  private cached: Observation | undefined;
  private inFlight: Promise<Observation> | undefined;
  private readonly now: () => number;

  constructor(private readonly options: ObserverOptions) {
    this.now = options.now ?? Date.now;
  }

  observe(): Promise<Observation> {
    const cacheMs = this.options.cacheMs ?? 1000;
    if (this.cached && this.now() - this.cached.at < cacheMs) return Promise.resolve(this.cached);
    this.inFlight ??= this.read().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async read(): Promise<Observation> {
    const { store, defaultBackend } = this.options;
    const plans = await store.read((view) =>
      view
        .list('router')
        .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id))
        .map((router): RouterPlan => {
          const intent = routerIntent(view, router);
          const floatingIps = view
            .find('floatingip', fipOfRouterKey(router.id))
            .map((f) => ({
              id: f.id,
              address: f.floatingIpAddress as string,
              fixedIp: f.fixedIpAddress as string | null,
              status: f.status,
              statusReason: f.statusReason,
            }))
            .sort((a, b) => compareAddresses(a.address, b.address));
          return {
            router: {
              id: router.id,
              name: router.name,
              backend: (router.backend as BackendName | null) ?? defaultBackend,
              namespace: router.namespace,
              gatewayDevice: router.gatewayDevice,
              problem: intent.problem,
            },
            target: intent.desired,
            floatingIps,
          };
        }),
    );
    const started = this.now();
    const routers = await mapLimited(plans, this.options.concurrency ?? 4, (plan) => this.readRouter(plan));
    const namespaces = [...new Set(plans.filter((p) => p.target).map((p) => p.router.namespace))];
    const conntrack = await mapLimited(namespaces, this.options.concurrency ?? 4, (ns) =>
      this.readConntrack(ns),
    );
    const at = this.now();
    this.cached = { at, readMs: at - started, routers, conntrack };
    return this.cached;
  }

  private async readRouter(plan: RouterPlan): Promise<ObservedRouter> {
    const dataplane = this.options.dataplaneFor(plan.router.backend);
    const supported = typeof dataplane.counters === 'function';
    let counters = new Map<string, FloatingIpCounters>();
    let countersError: string | null = null;
    if (supported && plan.target) {
      try {
        counters = new Map((await dataplane.counters!(plan.target)).map((c) => [c.floatingIp, c]));
      } catch (error) {
        countersError = (error as Error).message;
      }
    }
    return {
      ...plan.router,
      countersSupported: supported,
      countersError,
      floatingIps: plan.floatingIps.map((f) => ({ ...f, counters: counters.get(f.address) ?? null })),
    };
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

function compareAddresses(a: string, b: string): number {
  const n = (ip: string) => ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
  return n(a) - n(b);
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
