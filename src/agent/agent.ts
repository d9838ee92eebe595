import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import {
  fipsOfQosPolicyKey,
  type BackendName,
  type Context,
  type FloatingIp,
  type Router,
} from '../model/index.js';
import type { Store } from '../store/index.js';
import { GarpQueue, type Dataplane } from '../dataplane/index.js';
import { RouterDataplane } from '../dataplane/router-dataplane.js';
import { sharedChannels } from '../dataplane/common/netns-channels.js';
import { ProgrammedRouters } from './programmed-routers.js';
import { StatusWriter } from './status-writer.js';
import { ResyncPacer } from './resync-pacer.js';
import {
  RouterReconciler,
  type ProgrammedRouter,
  type ReconcileOutcome,
  type RouterGuard,
  type RouterRole,
  readsStoreAndKernel,
} from './router-reconciler.js';

export interface AgentOptions {
  readonly store: Store;
  readonly dataplaneFor: (name: BackendName) => Dataplane;
  /** Backend for routers that do not name one. Default nftables. */
  readonly defaultBackend?: BackendName;
  readonly log: Logger;
  /** How often every router is re-read from the kernel to repair drift. Default 30 s. */
  readonly resyncIntervalMs?: number;
  /** How often the change feed is polled for writes made by other processes. Default 500 ms. */
  readonly pollIntervalMs?: number;
  /** Where the agent records what it programmed; null keeps it in memory only (tests). */
  readonly programmedRoutersPath?: string | null;
  readonly garp?: boolean;
  readonly conntrackCleanup?: boolean;
  /** How many routers are reconciled at once by full passes (at most this less one). Default 4. */
  readonly concurrency?: number;
  /** How many delta passes (a few floating IPs of a router) run at once, beside the full passes. Default 16. */
  readonly deltaConcurrency?: number;
  /**
   * Which routers this agent carries (multi-node: those scheduled to its node). Any other router is removed
   * from this node if it was programmed here. Default: every router.
   */
  readonly ownsRouter?: (router: Router) => boolean;
  /**
   * Routers this agent does not carry but holds the translation of, as a routed hot standby (see RouterRole):
   * no floating addresses, no ARP, no status. Default: none.
   */
  readonly standsBy?: (router: Router) => boolean;
  /** The name on this node of a router's namespace (labs run several nodes on one host). Default: unchanged. */
  readonly localNamespace?: (namespace: string | null) => string | null;
  /** Enforced around every apply and removal (multi-node: the lease fence). */
  readonly guard?: RouterGuard;
  /** How long after a failed pass the router is tried again, doubling per failure (see retryDelayMs). Default 1 s. */
  readonly retryFirstMs?: number;
}

/** Pruning scans every namespace of the host: not on every resync. */
const PRUNE_INTERVAL_MS = 10 * 60_000;

/** The longest wait before a failed router is tried again: the periodic resync's default interval. */
const RETRY_MAX_MS = 30_000;

/**
 * How long to wait before the `attempt`-th retry of a router whose passes failed: `first`, doubling, at most
 * RETRY_MAX_MS (cilium's reconciler does the same). A transient failure (a busy store, a kernel tool killed on a
 * loaded machine) heals within a second instead of at the next resync; a lasting one (a namespace that is gone)
 * costs a pass every 30 s, never a hot loop.
 */
export function retryDelayMs(attempt: number, first = 1_000): number {
  return Math.min(RETRY_MAX_MS, first * 2 ** Math.max(0, attempt - 1));
}

/** Delta passes at once (see drain). */
const DELTA_CONCURRENCY = 16;

/**
 * How long floating IP changes are gathered into one batch before their passes start; the first change after a
 * quiet spell (no drain of the queue for this long) starts at once (see markDirty).
 */
const COALESCE_MS = 2;

/**
 * The mapping part of a floating IP: when only its status changes, no router needs work. Its QoS policy is part
 * of it: setting or removing one changes the floating IP's limits. (A change of the policy's rules arrives as a
 * change of the policy: see onQosPolicies.)
 */
const mappingKey = (f: FloatingIp) =>
  // One flat string from join (a template literal keeps a chain of concatenations: ~3 times the memory, and one
  // is kept per floating IP). The router is compared apart, as its id is shared (see knownFips).
  [
    f.fixedIpAddress ?? '',
    f.floatingIpAddress,
    // Most floating IPs have no forwardings: no JSON text for each of them (100,000 at start).
    f.portForwardings?.length ? JSON.stringify(f.portForwardings) : '',
    f.qosPolicyId ?? '',
  ].join('|');

/**
 * Runs one reconciler per router. Store changes and a periodic resync mark routers dirty; a small worker pool
 * reconciles dirty routers, each one at a time. Emits 'reconciled' with a ReconcileOutcome after each pass.
 */
export class Agent extends EventEmitter {
  private readonly reconcilers = new Map<string, RouterReconciler>();
  private readonly dirty = new Map<string, string>();
  /**
   * Per dirty router, the floating IPs that changed, while nothing else about it did: its next pass may be a
   * delta of just those. A router dirtied for any other reason is absent (a full pass).
   */
  private readonly changedFips = new Map<string, Set<string>>();
  private readonly needsFull = new Set<string>();
  /** Cancels the pending drain of gathered floating IP changes; undefined when none is pending. */
  private coalesceCancel: (() => void) | undefined;
  /** When the queue was last drained, for any reason (performance.now()): the agent is quiet 2 ms after. */
  private lastDrain = -Infinity;
  private lastPrune = 0;
  private readonly running = new Set<string>();
  /** The running passes that are full passes (no floating IP delta to try): at most all workers but one. */
  private readonly runningFull = new Set<string>();
  /**
   * Routers whose periodic resync, not started yet, gave way to a floating IP change: the change runs first as a
   * delta, and the resync is marked again once it has.
   */
  private readonly deferredResync = new Set<string>();
  /** Routers with a delta running beside their resync (see startConcurrentDelta). */
  private readonly runningDeltas = new Set<string>();
  /**
   * Each floating IP's router and mapping key, to tell a change of mapping from one of status only. 100,000 are
   * kept: the router's id is one shared string per router, not a copy per floating IP from its document.
   */
  private readonly knownFips = new Map<string, { routerId: string | null; key: string }>();
  private readonly routerIds = new Map<string, string>();
  private readonly record: ProgrammedRouters;
  /** What the record was last saved from (see saveRecord). */
  private recordedRouters: readonly ProgrammedRouter[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly resyncPacer = new ResyncPacer((routerId) => this.markDirty(routerId, 'resync'));
  private unsubscribe: (() => void) | undefined;
  private lastSeq = 0;
  private pumping: Promise<void> | undefined;
  private pumpAgain = false;
  private idleWaiters: (() => void)[] = [];
  /**
   * The routers marked at start whose first pass has not ended, and who waits for them. Start waits for these
   * passes, not for the agent to be idle: a resync round longer than the resync interval, or a steady stream of
   * changes, keeps it busy for ever, and the daemon would never say it is ready.
   */
  private firstPasses: { readonly pending: Set<string>; readonly done: () => void } | undefined;
  private stopped = false;
  /** Routers whose last pass failed: how many times in a row, and the timer of their next try. */
  private readonly retries = new Map<string, { attempts: number; timer: NodeJS.Timeout }>();
  readonly ctx: Context = {
    projectId: '',
    isAdmin: true,
    now: () => new Date().toISOString(),
    newId: () => {
      throw new Error('the agent never creates resources');
    },
  };

  /** One writer for the whole agent, so that the statuses of every router's passes share transactions. */
  private readonly statusWriter: StatusWriter;
  /** One queue for the whole agent, so that its rate limit holds across routers. */
  readonly garp: GarpQueue;
  /** One router layer per backend and role, shared by every router's reconciler (it keeps their records). */
  private readonly routerDataplanes = new Map<`${BackendName}/${RouterRole}`, RouterDataplane>();

  constructor(private readonly options: AgentOptions) {
    super();
    this.garp = new GarpQueue((error, target) =>
      options.log.warn({ router: target.routerId, err: (error as Error).message }, 'gratuitous ARP failed'),
    );
    this.record = new ProgrammedRouters(options.programmedRoutersPath ?? null);
    this.statusWriter = new StatusWriter(options.store, this.ctx);
  }

  /**
   * Reconciles every router once, sweeps what a previous run left behind, then follows the change feed. Resolves
   * when every router has ended its first pass, whatever else is still queued then (see firstPasses).
   */
  async start(): Promise<void> {
    const { store } = this.options;
    this.lastSeq = (await store.changesSince(Number.MAX_SAFE_INTEGER, 0)).latest;
    const routers = await store.read((view) => {
      const byRouter = new Map<string, FloatingIp[]>();
      for (const fip of view.list('floatingip')) {
        this.knownFips.set(fip.id, { routerId: this.sharedRouterId(fip.routerId), key: mappingKey(fip) });
        if (fip.routerId === null) continue;
        const of = byRouter.get(fip.routerId);
        if (of) of.push(fip);
        else byRouter.set(fip.routerId, [fip]);
      }
      const owned = this.ownedRouters(view.list('router'));
      // Each router's first pass plans from this same read: its floating IPs were just parsed (see prime).
      for (const router of owned)
        this.reconcilerFor(router.id).prime(view, router, byRouter.get(router.id) ?? []);
      return owned.map((r) => r.id);
    });
    for (const previous of this.record.load((problem) => this.options.log.error(problem))) {
      this.reconcilerFor(previous.routerId).programmed = previous;
      this.dirty.set(previous.routerId, 'startup');
    }
    for (const id of routers) this.dirty.set(id, 'startup');
    const firstPassesEnded = this.awaitFirstPasses(new Set(this.dirty.keys()));
    this.unsubscribe = store.onChange(() => this.pump());
    this.timers.push(setInterval(() => this.pump(), this.options.pollIntervalMs ?? 500));
    const resyncIntervalMs = this.options.resyncIntervalMs ?? 30_000;
    this.timers.push(setInterval(() => this.periodicResync(resyncIntervalMs), resyncIntervalMs));
    for (const t of this.timers) t.unref();
    this.drain();
    await firstPassesEnded;
    // In the background: it scans every namespace of the host, which must not delay readiness.
    void this.prune();
  }

  /**
   * Removes backend state kept outside namespaces (eBPF pins) of routers that no longer exist: at start, then at
   * most every PRUNE_INTERVAL_MS with the periodic resync. Never fatal.
   */
  async prune(): Promise<void> {
    this.lastPrune = Date.now();
    try {
      const keep = new Set(await this.options.store.read((view) => view.list('router').map((r) => r.id)));
      for (const backend of ['ebpf'] as const) {
        const pruned = (await this.options.dataplaneFor(backend).prune?.(keep)) ?? [];
        if (pruned.length > 0)
          this.options.log.info({ backend, routers: pruned }, 'pruned state of routers that no longer exist');
      }
    } catch (error) {
      this.options.log.warn({ err: (error as Error).message }, 'could not prune state of deleted routers');
    }
  }

  /** Resolves once every router in `pending` has ended a pass (failed or not), or the agent stops. */
  private awaitFirstPasses(pending: Set<string>): Promise<void> {
    return new Promise<void>((resolve) => {
      if (pending.size === 0) return resolve();
      this.firstPasses = { pending, done: resolve };
    });
  }

  private firstPassEnded(routerId: string): void {
    const first = this.firstPasses;
    if (!first?.pending.delete(routerId) || (first.pending.size > 0 && !this.stopped)) return;
    this.firstPasses = undefined;
    first.done();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const first = this.firstPasses;
    this.firstPasses = undefined;
    first?.done();
    this.unsubscribe?.();
    for (const t of this.timers) clearInterval(t);
    this.resyncPacer.stop();
    this.coalesceCancel?.();
    for (const { timer } of this.retries.values()) clearTimeout(timer);
    this.retries.clear();
    sharedChannels.sweep();
    this.coalesceCancel = undefined;
    await this.pumping;
    while (this.running.size + this.runningDeltas.size > 0) await new Promise((r) => setTimeout(r, 10));
  }

  /** Resolves when no router is dirty or being reconciled and the change feed has been read. */
  async whenIdle(): Promise<void> {
    await this.pumping;
    if (this.dirty.size === 0 && this.running.size === 0 && this.runningDeltas.size === 0 && !this.pumping)
      return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    return this.whenIdle();
  }

  /** Reads the change feed now and waits until everything it triggered has been applied. */
  async sync(): Promise<void> {
    await this.pump();
    await this.whenIdle();
  }

  /** The periodic resync: every router, spread over the interval (see ResyncPacer). */
  private periodicResync(intervalMs: number): void {
    this.beginResync(true, (owned) =>
      this.resyncPacer.round([...new Set([...this.reconcilers.keys(), ...owned])], intervalMs),
    );
  }

  resyncAll(cause: string): void {
    const marked = new Set(this.reconcilers.keys());
    // Only routers not marked here: marking one again once its pass has started would queue a second full pass.
    this.beginResync(cause === 'resync', (owned) =>
      owned.filter((id) => !marked.has(id)).forEach((id) => this.markDirty(id, cause)),
    );
    for (const id of marked) this.markDirty(id, cause);
  }

  /**
   * What every resync starts with, periodic or not: the channels of namespaces that are gone are closed, a prune
   * runs if one is due (`prune`), and the store's routers that this agent owns are read for `next`. A failed read
   * is logged; the next resync reads again.
   */
  private beginResync(prune: boolean, next: (owned: string[]) => void): void {
    sharedChannels.sweep();
    if (prune && Date.now() - this.lastPrune > PRUNE_INTERVAL_MS) void this.prune();
    void this.options.store
      .read((view) => this.ownedRouterIds(view.list('router')))
      .then(next)
      .catch((error) =>
        this.options.log.warn({ err: (error as Error).message }, 'resync could not read the store'),
      );
  }

  /** Where this agent has programmed routers: what its guard must keep covering. */
  programmedRouters(): ProgrammedRouter[] {
    return [...this.reconcilers.values()].flatMap((r) => (r.programmed ? [r.programmed] : []));
  }

  /** The routers this agent programs: those it carries, and those it stands by for. */
  private ownedRouterIds(routers: readonly Router[]): string[] {
    return this.ownedRouters(routers).map((r) => r.id);
  }

  private ownedRouters(routers: readonly Router[]): Router[] {
    const { ownsRouter: owns, standsBy } = this.options;
    return routers.filter((r) => !owns || owns(r) || standsBy?.(r));
  }

  /**
   * Whether this agent has programmed the router here as its owner and its last pass succeeded (routed mode
   * waits for it).
   */
  programmedHere(routerId: string): boolean {
    return this.programmedAs(routerId) === 'owner';
  }

  /** Whether this agent holds the router's translation as a standby and its last pass succeeded. */
  standingBy(routerId: string): boolean {
    return this.programmedAs(routerId) === 'standby';
  }

  private programmedAs(routerId: string): RouterRole | undefined {
    const reconciler = this.reconcilers.get(routerId);
    return reconciler?.programmed !== undefined && reconciler.last?.error === undefined
      ? reconciler.role
      : undefined;
  }

  routerOutcomes(): ReconcileOutcome[] {
    return [...this.reconcilers.values()].flatMap((r) => (r.last ? [r.last] : []));
  }

  private markDirty(routerId: string, cause: string, fipId?: string): void {
    if (this.stopped) return;
    // The store changed since the start read: the router's first pass must read it again.
    this.reconcilers.get(routerId)?.unprime();
    const queued = this.dirty.get(routerId);
    if (cause === 'resync' && fipId === undefined) {
      if (queued !== undefined && queued !== 'resync') {
        // A resync never merges into a pass queued for a store change: that pass, keeping its cause, plans from
        // the record and would not read the kernel. It follows that pass instead (unless that pass reads the
        // kernel anyway). Floating IP changes queued go first as a delta, not merged into a full pass that
        // would wait for a kernel read.
        if (!readsStoreAndKernel(queued)) this.deferredResync.add(routerId);
        return;
      }
    } else if (queued === 'resync') {
      // Nor does a store change merge into a queued periodic resync: that resync may check only the kernel
      // against the record (kernelAsRecorded) and would never see the change, left waiting for the resync that
      // reads the store, minutes later. The change goes first, as a delta when it is one (with 100 routers
      // queued for their resyncs, it would otherwise wait for the whole round); the resync follows it.
      this.dirty.delete(routerId);
      this.needsFull.delete(routerId);
      if (!readsStoreAndKernel(cause)) this.deferredResync.add(routerId);
    }
    if (!this.dirty.has(routerId)) this.dirty.set(routerId, cause);
    if (fipId === undefined) {
      this.needsFull.add(routerId);
      this.changedFips.delete(routerId);
      this.drain();
      return;
    }
    if (!this.needsFull.has(routerId)) {
      const ids = this.changedFips.get(routerId) ?? new Set<string>();
      ids.add(fipId);
      this.changedFips.set(routerId, ids);
    }
    if (this.coalesceCancel !== undefined) return;
    // Floating IP changes that arrive within a couple of milliseconds of the queue's last drain (a batch started,
    // a pass ended) wait 2 ms and become one batch, so that a stream costs one delta per batch, not per change. The
    // first change after a quiet spell waits for nothing but the rest of the change feed's read (an immediate
    // runs after it): it used to wait 2 ms (3 with the timer's rounding) for changes that were not coming, about
    // 2 ms of an association's 13 ms p50 at 100,000 floating IPs.
    const drain = () => {
      this.coalesceCancel = undefined;
      this.drain();
      this.notifyIfIdle();
    };
    if (performance.now() - this.lastDrain < COALESCE_MS) {
      const timer = setTimeout(drain, COALESCE_MS);
      this.coalesceCancel = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(drain);
      this.coalesceCancel = () => clearImmediate(immediate);
    }
  }

  private pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return this.pumping;
    }
    this.pumping = this.readChanges()
      .catch((error) =>
        this.options.log.warn({ err: (error as Error).message }, 'cannot read the change feed'),
      )
      .finally(() => {
        this.pumping = undefined;
        if (this.pumpAgain) {
          this.pumpAgain = false;
          void this.pump();
        } else this.notifyIfIdle();
      });
    return this.pumping;
  }

  private async readChanges(): Promise<void> {
    const { store } = this.options;
    for (;;) {
      // Status-only changes (a converge writes 100,000) are left in the store where it can: they are skipped below.
      const batch = await store.changesSince(this.lastSeq, undefined, { withoutStatusOnly: true });
      if (batch.truncated) {
        this.lastSeq = batch.latest;
        this.resyncAll('feed-truncated');
        return;
      }
      this.lastSeq = Math.max(batch.changes.at(-1)?.seq ?? this.lastSeq, batch.through ?? this.lastSeq);
      if (batch.changes.length === 0) return;
      const fipIds = new Set<string>();
      const routerIds = new Set<string>();
      const policyIds = new Set<string>();
      for (const change of batch.changes) {
        // A status-only change (an agent's report, this one's or another node's) never moves a mapping: unread.
        if (change.kind === 'floatingip') {
          if (!change.statusOnly) fipIds.add(change.id);
        } else if (change.kind === 'router') routerIds.add(change.id);
        else if (change.kind === 'qospolicy') policyIds.add(change.id);
        else if (change.kind === 'subnet' || change.kind === 'network')
          this.resyncAll(`${change.kind}-changed`);
      }
      if (fipIds.size > 0) {
        const fips = await store.read((view) =>
          [...fipIds].map((id) => [id, view.get('floatingip', id)] as const),
        );
        for (const [id, fip] of fips) this.onFloatingIp(id, fip);
      }
      if (policyIds.size > 0) await this.onQosPolicies(policyIds);
      if (routerIds.size > 0) {
        const revisions = await store.read((view) =>
          [...routerIds].map((id) => [id, view.get('router', id)?.revisionNumber] as const),
        );
        for (const [id, revision] of revisions) {
          // The reconciler's own status report comes back on the feed: nothing else changed, so no pass.
          if (revision !== undefined && this.reconcilers.get(id)?.statusRevision === revision) continue;
          this.markDirty(id, 'router-changed');
        }
      }
      // The page reached the newest change committed when it was read: another read now would find nothing, and a
      // commit since (or during the reads above) has woken a pump of its own (see pump). The pump runs after every
      // group commit, so that empty read was a third of its cost while filling through the API.
      if (batch.through !== undefined && batch.through >= batch.latest) return;
    }
  }

  /**
   * A policy's rules changed (they are stored inside it, so any rule create, update or delete is a change of
   * the policy; so are a rename or tags, which cost a pass for nothing): every floating IP using it gets its new
   * limits. The `fip-qos/` index finds them in one lookup; their routers get a full pass, which reads the
   * kernel's limits and updates only the elements and objects that differ.
   */
  private async onQosPolicies(policyIds: ReadonlySet<string>): Promise<void> {
    const routers = await this.options.store.read((view) => [
      ...new Set(
        [...policyIds].flatMap((id) =>
          view.find('floatingip', fipsOfQosPolicyKey(id)).flatMap((f) => f.routerId ?? []),
        ),
      ),
    ]);
    for (const routerId of routers) this.markDirty(routerId, 'qos-policy-changed');
  }

  private onFloatingIp(id: string, fip: FloatingIp | undefined): void {
    const before = this.knownFips.get(id);
    const key = fip ? mappingKey(fip) : '';
    // Only status or description changed.
    if (before && fip && before.key === key && before.routerId === fip.routerId) return;
    if (before?.routerId) this.markDirty(before.routerId, 'floatingip-changed', id);
    if (fip?.routerId) this.markDirty(fip.routerId, 'floatingip-changed', id);
    if (fip) this.knownFips.set(id, { routerId: this.sharedRouterId(fip.routerId), key });
    else this.knownFips.delete(id);
  }

  private sharedRouterId(id: string | null): string | null {
    if (id === null) return null;
    const shared = this.routerIds.get(id);
    if (shared !== undefined) return shared;
    this.routerIds.set(id, id);
    return id;
  }

  private routerDataplaneFor(name: BackendName, role: RouterRole): RouterDataplane {
    let routerDataplane = this.routerDataplanes.get(`${name}/${role}`);
    if (!routerDataplane) {
      const owner = role === 'owner';
      routerDataplane = new RouterDataplane(this.options.dataplaneFor(name), {
        // A standby answers no ARP for floating IPs and announces none: no addresses, no gratuitous ARP.
        garp: owner && (this.options.garp ?? true) ? this.garp : null,
        conntrackCleanup: this.options.conntrackCleanup ?? true,
        floatingAddresses: owner,
        warmChannels: true,
      });
      this.routerDataplanes.set(`${name}/${role}`, routerDataplane);
    }
    return routerDataplane;
  }

  private reconcilerFor(routerId: string): RouterReconciler {
    let reconciler = this.reconcilers.get(routerId);
    if (!reconciler) {
      const o = this.options;
      reconciler = new RouterReconciler(routerId, {
        store: o.store,
        routerDataplaneFor: (name, role) => this.routerDataplaneFor(name, role),
        defaultBackend: o.defaultBackend ?? 'nftables',
        log: o.log,
        ctx: this.ctx,
        statusWriter: this.statusWriter,
        ...(o.ownsRouter && { ownsRouter: o.ownsRouter }),
        ...(o.standsBy && { standsBy: o.standsBy }),
        ...(o.localNamespace && { localNamespace: o.localNamespace }),
        ...(o.guard && { guard: o.guard }),
      });
      this.reconcilers.set(routerId, reconciler);
    }
    return reconciler;
  }

  /**
   * Starts passes for dirty routers while workers are free. Deltas first (routers with only floating IP changes),
   * then full passes. The two have workers of their own: full passes at most `concurrency - 1` at once, so that a
   * round of them (a resync of 100 routers, a restart) never holds up an association on another router for
   * seconds; deltas up to `deltaConcurrency`, since a delta mostly waits for a channel's answer and a status
   * write: with one router per change (100 routers churning), a few workers would serialise them on those waits.
   */
  private drain(): void {
    this.lastDrain = performance.now();
    const limit = this.options.concurrency ?? 4;
    const fullLimit = Math.max(1, limit - 1);
    const deltaLimit = this.options.deltaConcurrency ?? DELTA_CONCURRENCY;
    const isFull = (routerId: string) => this.needsFull.has(routerId) || !this.changedFips.has(routerId);
    const queue = [...this.dirty].sort(([a], [b]) => Number(isFull(a)) - Number(isFull(b)));
    for (const [routerId, cause] of queue) {
      const deltas = this.running.size - this.runningFull.size + this.runningDeltas.size;
      if (this.running.has(routerId)) {
        if (deltas < deltaLimit) this.startConcurrentDelta(routerId, cause);
        continue;
      }
      const full = isFull(routerId);
      if (full ? this.runningFull.size >= fullLimit : deltas >= deltaLimit) continue;
      this.dirty.delete(routerId);
      const fipIds = full ? undefined : this.changedFips.get(routerId);
      this.needsFull.delete(routerId);
      this.changedFips.delete(routerId);
      this.running.add(routerId);
      if (full) this.runningFull.add(routerId);
      const reconciler = this.reconcilerFor(routerId);
      void reconciler
        .reconcile(cause, fipIds)
        .then((outcome) => {
          if (!reconciler.programmed && !outcome.error) {
            this.reconcilers.delete(routerId);
            // Sharing is only a saving: a floating IP that still names the router gets a fresh copy.
            this.routerIds.delete(routerId);
          }
          this.saveRecord();
          if (outcome.error) this.retryLater(routerId);
          else this.retried(routerId);
          // Once per rebuild (a resync that finds the kernel otherwise runs a full pass of its own, not this).
          if (!outcome.error && outcome.rebuilt && cause !== 'resync' && reconciler.needsReadToTrust())
            this.markDirty(routerId, 'resync');
          this.emit('reconciled', outcome);
        })
        .catch((error) =>
          this.options.log.error({ router: routerId, err: (error as Error).message }, 'reconciler crashed'),
        )
        .finally(() => {
          this.running.delete(routerId);
          this.runningFull.delete(routerId);
          this.firstPassEnded(routerId);
          if (this.deferredResync.delete(routerId)) this.markDirty(routerId, 'resync');
          this.drain();
          this.notifyIfIdle();
        });
    }
  }

  /**
   * A router whose resync is reading the kernel (seconds at 100,000 floating IPs) takes floating IP deltas
   * meanwhile, so that a resync never holds up an association for its whole read.
   */
  private startConcurrentDelta(routerId: string, cause: string): void {
    const reconciler = this.reconcilers.get(routerId);
    const fipIds = this.changedFips.get(routerId);
    if (!reconciler?.acceptsConcurrentDelta() || !fipIds || this.needsFull.has(routerId)) return;
    if (this.runningDeltas.has(routerId)) return;
    this.dirty.delete(routerId);
    this.changedFips.delete(routerId);
    this.runningDeltas.add(routerId);
    void reconciler
      .reconcileConcurrentDelta(cause, fipIds)
      .then((outcome) => {
        if (outcome) this.emit('reconciled', outcome);
        else this.markDirty(routerId, 'delta-refused');
      })
      .catch((error) =>
        this.options.log.error({ router: routerId, err: (error as Error).message }, 'reconciler crashed'),
      )
      .finally(() => {
        this.runningDeltas.delete(routerId);
        this.drain();
        this.notifyIfIdle();
      });
  }

  /** A failed pass: the router is marked again after a backoff, whatever else marks it meanwhile. */
  private retryLater(routerId: string): void {
    if (this.stopped) return;
    const previous = this.retries.get(routerId);
    clearTimeout(previous?.timer);
    const attempts = (previous?.attempts ?? 0) + 1;
    const retryInMs = retryDelayMs(attempts, this.options.retryFirstMs);
    const timer = setTimeout(() => this.markDirty(routerId, 'retry'), retryInMs);
    timer.unref();
    // Says when the router will be tried again: an operator watching a failing router sees the backoff grow.
    this.options.log.info({ router: routerId, attempt: attempts, retryInMs }, 'router will be tried again');
    this.retries.set(routerId, { attempts, timer });
  }

  /** A pass that succeeded ends the router's backoff. */
  private retried(routerId: string): void {
    const retry = this.retries.get(routerId);
    if (!retry) return;
    clearTimeout(retry.timer);
    this.retries.delete(routerId);
  }

  private saveRecord(): void {
    // A loop, not a spread and flatMap: this runs after every pass, and allocated 100 arrays a delta with 100 routers.
    const programmed: ProgrammedRouter[] = [];
    for (const r of this.reconcilers.values()) if (r.programmed) programmed.push(r.programmed);
    // A delta never changes where a router is programmed (only a full pass or a removal replaces `programmed`):
    // the same objects need no record text. With 100 routers churning, sorting and serialising all of them after
    // every delta, only to find the text unchanged, was a fixed cost of each delta on the event loop.
    const last = this.recordedRouters;
    if (programmed.length === last.length && programmed.every((p, i) => p === last[i])) return;
    try {
      this.record.save(programmed);
      this.recordedRouters = programmed;
    } catch (error) {
      this.options.log.warn({ err: (error as Error).message }, 'cannot record programmed routers');
    }
  }

  private notifyIfIdle(): void {
    if (
      this.coalesceCancel !== undefined ||
      this.runningDeltas.size > 0 ||
      this.dirty.size > 0 ||
      this.running.size > 0 ||
      this.pumping
    )
      return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
