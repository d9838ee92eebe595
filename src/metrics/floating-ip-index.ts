import type { BackendName, FloatingIp, FloatingIpStatus, Router, View } from '../model/index.js';
import type { Store } from '../store/index.js';
import { routerIntent, type RouterTarget } from '../dataplane/index.js';

/**
 * What the observers need of one associated floating IP (100,000 are kept: no field that is not read; the router
 * is the map holding it, the sort key is computed when sorting).
 */
export interface IndexedFloatingIp {
  readonly id: string;
  readonly address: string;
  readonly fixedIp: string | null;
  readonly status: FloatingIpStatus;
  readonly statusReason: string;
}

export interface IndexedRouter {
  readonly id: string;
  readonly name: string;
  readonly backend: BackendName;
  readonly namespace: string | null;
  readonly gatewayDevice: string | null;
  /** Why the router cannot be programmed; empty when it can. */
  readonly problem: string;
  /** Where its counters live; null when it cannot be programmed. */
  readonly target: RouterTarget | null;
}

/** Fewer pending changes than this are always read one by one, however small the index. */
export const RELOAD_MIN_CHANGES = 1_000;

interface RouterFloatingIps {
  readonly byId: Map<string, IndexedFloatingIp>;
  /** Bumped on every change of this router's floating IPs: caches of its samples key on it. */
  version: number;
  sorted: { version: number; list: readonly IndexedFloatingIp[] } | null;
}

/**
 * The routers and their associated floating IPs, kept up to date from the store's change feed instead of listing
 * the store on every scrape (at 100,000 floating IPs a listing parses 100,000 documents on the event loop). The
 * first `sync()` lists everything once; later ones read only the floating IPs that changed since.
 */
export class FloatingIpIndex {
  private seq = -1;
  private routerList: IndexedRouter[] = [];
  /**
   * Few routers, many floating IPs each: a changed floating IP is looked for in each router's map rather than
   * kept in one more map of 100,000 ids (3.5 MiB at 100,000).
   */
  private readonly byRouter = new Map<string, RouterFloatingIps>();
  private syncing: Promise<void> | undefined;
  /** One counter for every router's version: a reload then never gives a router a version it had before. */
  private versions = 0;

  constructor(
    private readonly store: Store,
    private readonly defaultBackend: BackendName,
  ) {}

  /** Brings the index up to the store's latest change; concurrent callers share one pass. */
  sync(): Promise<void> {
    this.syncing ??= this.pull().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  /** Routers by name, then id. */
  routers(): readonly IndexedRouter[] {
    return this.routerList;
  }

  /** A router's floating IPs by address; the same array until they change. */
  floatingIps(routerId: string): readonly IndexedFloatingIp[] {
    const entry = this.byRouter.get(routerId);
    if (!entry) return [];
    if (entry.sorted?.version !== entry.version) {
      entry.sorted = {
        version: entry.version,
        list: byAddress([...entry.byId.values()]),
      };
    }
    return entry.sorted.list;
  }

  /** Changes whenever the router's floating IPs change (association, address, status). */
  version(routerId: string): number {
    return this.byRouter.get(routerId)?.version ?? 0;
  }

  private async pull(): Promise<void> {
    if (this.seq < 0) return this.reload();
    for (let first = true; ; first = false) {
      const batch = await this.store.changesSince(this.seq);
      if (batch.truncated) return this.reload();
      // After a converge, 100,000 status changes wait: read one by one they took 870 ms on the loop, listed
      // again 440 ms (eBPF, 1 × 100,000). More changes than half the index are cheaper listed.
      if (first && batch.latest - this.seq > Math.max(RELOAD_MIN_CHANGES, this.size() / 2))
        return this.reload();
      if (batch.changes.length === 0) return;
      this.seq = batch.changes[batch.changes.length - 1]!.seq;
      const fipIds = new Set<string>();
      let routersChanged = false;
      for (const change of batch.changes) {
        if (change.kind === 'floatingip') fipIds.add(change.id);
        else if (change.kind === 'router' || change.kind === 'subnet' || change.kind === 'network')
          routersChanged = true;
      }
      const ids = [...fipIds];
      const { fips, routers } = await this.store.read((view) => ({
        fips: ids.map((id) => [id, view.get('floatingip', id)] as const),
        routers: routersChanged ? this.listRouters(view) : null,
      }));
      if (routers) this.routerList = routers;
      for (const [id, fip] of fips) this.put(id, fip);
    }
  }

  /** How many floating IPs are indexed (few routers: one map each). */
  private size(): number {
    let n = 0;
    for (const entry of this.byRouter.values()) n += entry.byId.size;
    return n;
  }

  private async reload(): Promise<void> {
    // The sequence number first: changes committed while listing are read again by the next pull, and applying
    // one twice is harmless (each re-reads the floating IP as it is now).
    const seq = (await this.store.changesSince(Number.MAX_SAFE_INTEGER, 0)).latest;
    const { routers, fips } = await this.store.read((view) => ({
      routers: this.listRouters(view),
      fips: view.list('floatingip'),
    }));
    this.seq = seq;
    this.routerList = routers;
    this.byRouter.clear();
    for (const fip of fips) this.put(fip.id, fip, false);
  }

  /** `indexed`: the floating IP may be indexed already (false while reloading an emptied index). */
  private put(id: string, fip: FloatingIp | undefined, indexed = true): void {
    if (indexed) {
      for (const entry of this.byRouter.values()) {
        if (!entry.byId.delete(id)) continue;
        entry.version = ++this.versions;
        break;
      }
    }
    if (!fip?.routerId) return;
    let entry = this.byRouter.get(fip.routerId);
    if (!entry) {
      entry = { byId: new Map(), version: 0, sorted: null };
      this.byRouter.set(fip.routerId, entry);
    }
    entry.byId.set(id, {
      id,
      address: fip.floatingIpAddress,
      fixedIp: fip.fixedIpAddress,
      status: fip.status,
      statusReason: fip.statusReason,
    });
    entry.version = ++this.versions;
  }

  private listRouters(view: View): IndexedRouter[] {
    // The router's placement and problem, without its 100,000 mappings: the intent sees no floating IPs.
    const light = withoutFloatingIps(view);
    return view
      .list('router')
      .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id))
      .map((router: Router) => {
        const intent = routerIntent(light, router);
        return {
          id: router.id,
          name: router.name,
          backend: (router.backend as BackendName | null) ?? this.defaultBackend,
          namespace: router.namespace,
          gatewayDevice: router.gatewayDevice,
          problem: intent.problem,
          target: intent.desired
            ? {
                routerId: intent.desired.routerId,
                namespace: intent.desired.namespace,
                gatewayDevice: intent.desired.gatewayDevice,
              }
            : null,
        };
      });
  }
}

/** The floating IPs by address, each address parsed once (not once per comparison). */
function byAddress(fips: readonly IndexedFloatingIp[]): IndexedFloatingIp[] {
  const order = new Float64Array(fips.length);
  for (let i = 0; i < fips.length; i++) order[i] = addressOrder(fips[i]!.address);
  return [...fips.keys()].sort((a, b) => order[a]! - order[b]!).map((i) => fips[i]!);
}

export function addressOrder(ip: string): number {
  return ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

function withoutFloatingIps(view: View): View {
  return {
    get: (kind, id) => view.get(kind, id),
    list: (kind) => view.list(kind),
    lookup: (key) => view.lookup(key),
    find: (kind, key) => (kind === 'floatingip' ? [] : view.find(kind, key)),
    range: (kind, options) => view.range(kind, options),
    count: (key) => view.count(key),
  };
}
