import type { Logger } from 'pino';
import { isNamespaceGone } from '../exec/run.js';
import {
  setRouterStatus,
  type BackendName,
  type Context,
  type FloatingIp,
  type FloatingIpStatus,
  type Router,
  type View,
} from '../model/index.js';
import type { Store } from '../store/index.js';
import {
  reportedFloatingIp,
  statusChanges,
  writeStatuses,
  type ReportedFloatingIp,
  type StatusEntry,
  type StatusWriter,
} from './status-writer.js';
import { changedMappings, routerIntent, isEmptyPlan } from '../dataplane/index.js';
import { sharedChannels } from '../dataplane/common/netns-channels.js';
import { yieldToLoop } from '../dataplane/common/yield-to-loop.js';
import { limitsKey } from '../dataplane/index.js';
import { sameStructure, type RouterDataplane } from '../dataplane/router-dataplane.js';
import { withChanges, type MappingChange } from '../dataplane/router-state.js';
import type {
  BackendState,
  DesiredRouter,
  FloatingMapping,
  Plan,
  RouterIntent,
  RouterTarget,
} from '../dataplane/index.js';

/**
 * What must hold for this node to announce a router (multi-node: this agent's lease), enforced around applies.
 * `arm` runs before anything of the router is programmed and throws to refuse; `disarm` after its state is gone.
 */
export interface RouterGuard {
  arm(target: RouterTarget): Promise<void>;
  disarm(target: RouterTarget): Promise<void>;
}

/** A guard's deliberate refusal (not a fault): the router stays as it is in the kernel until the guard allows. */
export class GuardRefusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuardRefusal';
  }
}

/**
 * What this node does for a router: `owner` carries it (translation, floating addresses, ARP, status);
 * `standby` (routed hot standby, --bgp-standby) holds only its translation, ready for the peer to route to it
 * the moment the owner's BGP session goes, and writes nothing to the store: the owner reports.
 */
export type RouterRole = 'owner' | 'standby';

/** Where and how a router was last programmed on this host, so it can be cleaned up when that changes. */
export interface ProgrammedRouter extends RouterTarget {
  readonly backend: BackendName;
}

export interface ReconcileOutcome {
  readonly routerId: string;
  readonly cause: string;
  readonly durationMs: number;
  /** The kernel was changed (false when it already matched). */
  readonly changed: boolean;
  readonly rebuilt: boolean;
  /**
   * The kernel did not hold what this reconciler had last applied there: someone or something changed it.
   * A pass that merely applies new store changes (even one started by the periodic resync) is not drift.
   */
  readonly drifted: boolean;
  readonly error?: string;
  readonly added: number;
  readonly removed: number;
  readonly conntrackDeleted: number;
  /**
   * Delta passes only: per changed floating IP that still exists, milliseconds from its change in the store
   * (its updated_at) to this pass having applied it and written its status. Across nodes this includes clock skew.
   */
  readonly changeLatenciesMs?: readonly number[];
}

export interface ReconcilerDeps {
  readonly store: Store;
  /** The router layer of a backend (one per backend, shared by every router's reconciler). */
  readonly routerDataplaneFor: (name: BackendName, role: RouterRole) => RouterDataplane;
  readonly defaultBackend: BackendName;
  readonly log: Logger;
  readonly ctx: Context;
  /**
   * Whether this agent carries the router; one it neither carries nor stands by for is removed from this node.
   * Default: all.
   */
  readonly ownsRouter?: (router: Router) => boolean;
  /** Whether this node stands by for a router it does not carry (see RouterRole). Default: none. */
  readonly standsBy?: (router: Router) => boolean;
  /** The name on this node of a router's namespace. Default: the name itself. */
  readonly localNamespace?: (namespace: string | null) => string | null;
  readonly guard?: RouterGuard;
  /** Where floating IP statuses go: shared by every router's reconciler, so they are written together. */
  readonly statusWriter: StatusWriter;
}

/**
 * Brings one router's kernel state to what the store says: read desired, read actual, apply the difference,
 * then report per-floating-IP status. Never flushes what is already right, so restarts are hitless.
 */
export class RouterReconciler {
  programmed: ProgrammedRouter | undefined;
  /**
   * The role the router was last programmed in; unknown for one recorded by a previous run (the owner's layer
   * removes either: it removes the floating addresses too).
   */
  role: RouterRole | undefined;
  last: ReconcileOutcome | undefined;
  /** The revision of the router this reconciler's own status report wrote: that change needs no pass. */
  statusRevision: number | undefined;
  /** Which floating IP holds each mapping after this reconciler's last successful apply; unset after any failure. */
  private applied: Applied | undefined;
  /**
   * Set while a periodic resync reads the kernel (seconds at 100,000 floating IPs): deltas may run meanwhile,
   * and each one that lands is logged here, so the resync plans against its read plus what landed since.
   */
  private reading: { readonly landed: MappingChange[] } | undefined;
  private deltaInFlight: Promise<unknown> | undefined;
  /**
   * The intent the agent's start read for this router, in the read that listed every floating IP (see prime):
   * the first full pass uses it instead of reading the store again. Dropped by any later change (see unprime).
   */
  private primed: (RouterIntent & { role: RouterRole }) | undefined;
  /** Periodic resyncs since the last that read the store (see RESYNCS_PER_STORE_READ). */
  private resyncsFromRecord = 0;

  constructor(
    readonly routerId: string,
    private readonly deps: ReconcilerDeps,
    programmed?: ProgrammedRouter,
  ) {
    this.programmed = programmed;
  }

  private roleOf(router: Router): RouterRole | null {
    if ((this.deps.ownsRouter ?? (() => true))(router)) return 'owner';
    return this.deps.standsBy?.(router) ? 'standby' : null;
  }

  /**
   * Reads this router's intent inside the caller's read, from the router's floating IPs the caller listed in it,
   * for the next full pass: at start the agent lists every floating IP anyway, and parsing 100,000 documents a
   * second time cost over a second. Only valid until the store changes again: the agent unprimes the router
   * on every change that marks it (its changes since the read come from the feed, which starts before it).
   */
  prime(view: View, router: Router, floatingIps: readonly FloatingIp[]): void {
    try {
      const role = this.roleOf(router);
      this.primed = role ? { ...routerIntent(view, router, floatingIps), role } : undefined;
    } catch {
      // Never the agent's start that fails for one router: its pass reads the store itself and reports why.
      this.primed = undefined;
    }
  }

  unprime(): void {
    this.primed = undefined;
  }

  /**
   * One pass. With `changedFipIds` (only floating IPs changed since the last pass), the pass first tries a delta:
   * only those floating IPs are read from the store and planned against what this reconciler applied last. Any
   * doubt (no trusted record, a structure change, a refusal, a claim by another floating IP, a backend without
   * deltas) or a delta the kernel refuses falls back to a full pass, which reads the kernel.
   */
  async reconcile(cause: string, changedFipIds?: ReadonlySet<string>): Promise<ReconcileOutcome> {
    const started = performance.now();
    let fullCause = cause;
    if (changedFipIds && !FULL_READ_CAUSES.has(cause)) {
      const delta = await this.reconcileDelta(cause, changedFipIds, started).catch((error: unknown) => {
        this.applied = undefined;
        this.deps.log.warn(
          { router: this.routerId, cause, err: (error as Error).message },
          'delta refused: reconciling the whole router from a fresh read',
        );
        fullCause = 'delta-refused';
        return undefined;
      });
      if (delta) return (this.last = delta);
    }
    return this.reconcileFull(fullCause, cause, started);
  }

  /** Whether a delta may run now beside the pass in progress (a resync that is still reading the kernel). */
  acceptsConcurrentDelta(): boolean {
    return this.reading !== undefined && this.deltaInFlight === undefined;
  }

  /**
   * A delta beside a resync that is reading the kernel. Never falls back to a full pass of its own (one is
   * running): undefined means the agent must mark the router for another full pass.
   */
  async reconcileConcurrentDelta(
    cause: string,
    changedFipIds: ReadonlySet<string>,
  ): Promise<ReconcileOutcome | undefined> {
    const started = performance.now();
    const pass = this.reconcileDelta(cause, changedFipIds, started).catch((error: unknown) => {
      this.deps.log.warn(
        { router: this.routerId, cause, err: (error as Error).message },
        'delta refused during a resync: the router gets another full pass',
      );
      return undefined;
    });
    this.deltaInFlight = pass;
    try {
      return await pass;
    } finally {
      this.deltaInFlight = undefined;
    }
  }

  /**
   * A periodic resync's check without the store: whether the kernel still holds what was applied last, deltas
   * that land during the read counted in. The store's changes reach the agent through its change feed, so
   * what a resync is for is the kernel changed behind its back (drift); reading the store's 100,000 floating IPs
   * for it held the event loop for 2-3 s every 30 s. False (a full pass follows, reading both) on drift, on any
   * doubt (no trusted record, a refusal, a record dropped by a failed delta) and on a failed read.
   */
  private async kernelAsRecorded(): Promise<boolean> {
    const previous = this.applied;
    if (!previous || previous.refusedAny) return false;
    const routerDataplane = this.deps.routerDataplaneFor(previous.backend, previous.role);
    // An untrusted record (after an eBPF rebuild, see needsReadToTrust) takes no delta beside the read: the
    // delta would find it untrusted and ask for a full pass.
    const trusted = routerDataplane.recorded(previous.desired) !== undefined;
    if (!trusted && !routerDataplane.awaitsReadToTrust(previous.desired)) return false;
    let read;
    try {
      read = await this.readBesideDeltas(routerDataplane, previous.desired, trusted);
    } catch {
      return false;
    }
    // A delta that failed meanwhile dropped the record; one that landed updated it (byId) in place.
    if (this.applied !== previous || (trusted && !routerDataplane.recorded(previous.desired))) return false;
    await yieldToLoop();
    // Planned, not compared with the record: the plan is what a full pass would apply, so nothing a full pass
    // repairs (a limit or a MAC the record does not keep) goes unnoticed. Only the mappings are the record's.
    const desired = { ...previous.desired, mappings: [...previous.byId.values()] };
    const seen = withChanges(read.actual, read.landed);
    const plan = routerDataplane.plan(desired, seen);
    await yieldToLoop();
    // A read that deltas overlapped may lack elements (an nftables set dumped while it changed): a plan that only
    // adds is no evidence of drift, and the full pass it would start (a store read, a second kernel read, under
    // churn) found "drift" of the same kind in every resync. The check is left to the next resync.
    if (read.actual.mayLackElements && onlyAdds(plan)) return true;
    if (!isEmptyPlan(plan)) return false;
    // The empty apply records the read as what the kernel holds: trusted again, deltas plan from it.
    if (!trusted) await routerDataplane.apply(plan, desired, seen);
    return true;
  }

  /**
   * Reads the kernel (seconds at 100,000 floating IPs). With `besideDeltas`, deltas may run meanwhile (see
   * reading): what landed is returned with the read, which may or may not show it. Returns once a delta in flight
   * has ended, so that nothing lands after the caller plans.
   */
  private async readBesideDeltas(
    routerDataplane: RouterDataplane,
    desired: DesiredRouter,
    besideDeltas: boolean,
  ): Promise<{ actual: Awaited<ReturnType<RouterDataplane['read']>>; landed: readonly MappingChange[] }> {
    const reading = besideDeltas ? { landed: [] as MappingChange[] } : undefined;
    this.reading = reading;
    try {
      return { actual: await routerDataplane.read(desired), landed: reading?.landed ?? [] };
    } finally {
      this.reading = undefined;
      await this.deltaInFlight;
    }
  }

  /**
   * After a rebuild on a backend that cannot tell its state without reading it (eBPF), the record is untrusted,
   * and the router's next delta would fall back to a full pass that reads the store too (3.8 s for the first
   * association after converging 100,000). The agent gives such a router a resync at once, which reads only the
   * kernel (see kernelAsRecorded).
   */
  needsReadToTrust(): boolean {
    const applied = this.applied;
    return (
      applied !== undefined &&
      this.deps.routerDataplaneFor(applied.backend, applied.role).awaitsReadToTrust(applied.desired)
    );
  }

  private async reconcileFull(readCause: string, cause: string, started: number): Promise<ReconcileOutcome> {
    const outcome = (fields: Partial<ReconcileOutcome>): ReconcileOutcome => ({
      routerId: this.routerId,
      cause,
      durationMs: performance.now() - started,
      changed: false,
      rebuilt: false,
      drifted: false,
      added: 0,
      removed: 0,
      conntrackDeleted: 0,
      ...fields,
    });
    const { store, log } = this.deps;
    if (readCause === 'resync' && this.resyncsFromRecord < RESYNCS_PER_STORE_READ - 1 && !this.primed) {
      const unchanged = await this.kernelAsRecorded();
      if (unchanged) {
        this.resyncsFromRecord++;
        return (this.last = outcome({}));
      }
    }
    if (readCause === 'resync') this.resyncsFromRecord = 0;
    const readIntent = () =>
      store.read((view) => {
        const router = view.get('router', this.routerId);
        const role = router && this.roleOf(router);
        return router && role ? { ...routerIntent(view, router), role } : undefined;
      });
    let intent = this.primed ?? (await readIntent());
    this.primed = undefined;
    // A full pass of 100,000 floating IPs is seconds of CPU in a few synchronous stretches (this read of the store,
    // the kernel's, the plan, the records): the event loop gets a turn between them, so that deltas of other
    // routers and API calls are not held up for the whole pass (issue 15's tail). See yieldToLoop.
    await yieldToLoop();
    // Only the owner writes status; a standby leaves out what the owner refuses, silently.
    const reports = intent?.role === 'owner';
    // Refused mappings never reach the kernel, whatever becomes of the rest of the router.
    if (intent && intent.refused.length > 0 && reports) await this.reportRefused(intent.refused);
    if (!intent || !intent.desired) {
      const changed = await this.unprogram();
      if (intent && reports && intent.problem && intent.floatingIps.length > 0) {
        await this.report(intent.floatingIps, 'ERROR', intent.problem);
        await this.reportRouter(intent.router, intent.problem);
      } else if (intent && reports) await this.reportRouter(intent.router, '');
      return (this.last = outcome({ changed }));
    }
    const role = intent.role;
    const localNamespace = this.deps.localNamespace ?? ((ns) => ns);
    const backend = (intent.router.backend as BackendName | null) ?? this.deps.defaultBackend;
    const forwardingRefusal = await this.refuseForwardings(intent, backend, reports);
    const qosRefusal = await this.refuseLimited(intent, backend, reports);
    const refusal =
      forwardingRefusal || qosRefusal
        ? new Set([...(forwardingRefusal ?? []), ...(qosRefusal ?? [])])
        : undefined;
    const withoutRefused = (wanted: DesiredRouter): DesiredRouter => {
      const { forwardings: _forwardings, ...withoutForwardings } = wanted;
      const kept = forwardingRefusal ? withoutForwardings : wanted;
      return qosRefusal ? { ...kept, mappings: kept.mappings.filter((m) => !m.limits) } : kept;
    };
    let desired: DesiredRouter = {
      ...withoutRefused(intent.desired),
      namespace: localNamespace(intent.desired.namespace),
    };
    // The mapped floating IPs come first, in the order of `desired.mappings`: a limited one is refused by index,
    // so that a re-read intent (see the resync below) is filtered exactly as its mappings are.
    // Only what the status report needs is kept past this point: the intent's documents are let go before the
    // kernel read (see ReportedFloatingIp).
    const decidedBy = (i: RouterIntent): ReportedFloatingIp[] =>
      (refusal
        ? i.floatingIps.filter(
            (f, index) =>
              !forwardingRefusal?.has(f.id) && !(qosRefusal && i.desired?.mappings[index]?.limits),
          )
        : i.floatingIps
      ).map((f) => reportedFloatingIp(f, this.routerId));
    let floatingIps = decidedBy(intent);
    const decided = floatingIps;
    const router = intent.router;
    let current = { router: intent.router, refusedAny: intent.refused.length > 0 || !!refusal };
    // A suspended pass keeps its local variables alive (a heap snapshot showed this one holding 100,000
    // documents through the kernel read): cleared, though nothing reads it again.
    // eslint-disable-next-line no-useless-assignment
    intent = undefined;
    try {
      if (this.programmed && !sameTarget(this.programmed, desired, backend)) await this.unprogram();
      if (this.programmed && this.role !== role) {
        // A change of role keeps the translation (a standby taking over is hitless) and plans from a fresh read
        // through the other role's layer, which adds or removes the floating addresses.
        this.deps.routerDataplaneFor(backend, this.role ?? 'owner').forget(this.routerId);
        this.applied = undefined;
      }
      const routerDataplane = this.deps.routerDataplaneFor(backend, role);
      const dataplane = routerDataplane.backend;
      const previous =
        this.applied &&
        this.applied.backend === backend &&
        this.applied.role === role &&
        sameStructure(this.applied.desired, desired)
          ? this.applied
          : undefined;
      // Between full reads, plan from the router layer's record of the kernel: reading 100,000 map elements back
      // costs seconds, applying one change milliseconds. Resyncs and restarts always read the kernel.
      let actual =
        previous && !FULL_READ_CAUSES.has(readCause) ? routerDataplane.recorded(desired) : undefined;
      let drifted = false;
      if (!actual) {
        // Only a resync over a trusted record lets deltas run during its read; start and errors hold them.
        const read = await this.readBesideDeltas(
          routerDataplane,
          desired,
          !!previous && readCause === 'resync',
        );
        actual = read.actual;
        if (read.landed.length > 0) {
          // The read may or may not show what landed meanwhile; it has landed now, so count it in. The store
          // is read again: the intent read before the kernel predates those changes.
          actual = withChanges(actual, read.landed);
          const reread = await readIntent();
          await yieldToLoop();
          if (
            !reread?.desired ||
            reread.role !== role ||
            !sameStructure(desired, withoutRefused(reread.desired))
          ) {
            // The change that did it has marked the router dirty again: its pass will redo this one.
            log.info(
              { router: this.routerId, cause },
              'router changed during a resync; left to the next pass',
            );
            return (this.last = outcome({}));
          }
          desired = { ...withoutRefused(reread.desired), namespace: desired.namespace };
          floatingIps = decidedBy(reread);
          current = { router: reread.router, refusedAny: reread.refused.length > 0 || !!refusal };
        }
        // Drift: the kernel no longer holds what was applied last. New store changes picked up by a resync
        // pass are not drift.
        drifted = previous !== undefined && routerDataplane.differsFromRecord(desired, actual);
        await yieldToLoop();
      }
      this.applied = undefined;
      const plan = routerDataplane.plan(desired, actual);
      await yieldToLoop();
      this.programmed = {
        routerId: desired.routerId,
        namespace: desired.namespace,
        gatewayDevice: desired.gatewayDevice,
        backend,
      };
      this.role = role;
      let conntrackDeleted = 0;
      // The guard runs on every pass, not only before applies: a router already in the kernel (an agent restart)
      // must be fenced again too. It is cheap when nothing changed. A refusal stops only what would announce
      // more; taking mappings away is always safe.
      const announcesMore = plan.rebuild || plan.added.length > 0 || plan.addAddresses.length > 0;
      try {
        await this.deps.guard?.arm(desired);
      } catch (error) {
        if (announcesMore || !(error instanceof GuardRefusal)) throw error;
      }
      // Applied even when empty: the router layer then records the read as what the kernel holds. What follows
      // the apply is prepared while the backend's batch goes in, and takes effect only once the apply succeeded.
      // Assigned in `meanwhile`, which the router layer calls on every path that returns.
      let applied!: Applied;
      let active: StatusEntry[] = [];
      const decidedDesired = desired;
      const decidedFloatingIps = floatingIps;
      const refusedAny = current.refusedAny;
      conntrackDeleted = await routerDataplane.apply(plan, desired, actual, async () => {
        applied = recordApplied(decidedDesired, backend, role, decidedFloatingIps, refusedAny);
        await yieldToLoop();
        if (reports) active = statusChanges(decidedFloatingIps, 'ACTIVE', '');
      });
      await yieldToLoop();
      if (!isEmptyPlan(plan)) {
        log.info(
          {
            router: this.routerId,
            cause,
            rebuilt: plan.rebuild,
            added: plan.added.length,
            removed: plan.removed.length,
            conntrackDeleted,
          },
          drifted ? 'repaired drift' : 'applied',
        );
      }
      this.applied = applied;
      await yieldToLoop();
      if (reports) {
        await this.deps.statusWriter.write(active);
        await this.reportRouter(current.router, '', (await dataplane.routerNote?.(desired)) ?? '');
      }
      return (this.last = outcome({
        changed: !isEmptyPlan(plan),
        rebuilt: plan.rebuild,
        drifted,
        added: plan.added.length,
        removed: plan.removed.length,
        conntrackDeleted,
      }));
    } catch (error) {
      // Unset after any failure, as documented: a failed read (a vanished namespace) must not leave the state
      // of an earlier apply trusted, or the next pass would skip the kernel and report ACTIVE.
      this.applied = undefined;
      const reason = (error as Error).message;
      if (error instanceof GuardRefusal)
        log.warn({ router: this.routerId, cause, err: reason }, 'reconcile refused');
      else log.error({ router: this.routerId, cause, err: reason }, 'reconcile failed');
      if (reports) {
        await this.report(decided, 'ERROR', reason).catch(() => undefined);
        await this.reportRouter(router, reason).catch(() => undefined);
      }
      return (this.last = outcome({ error: reason }));
    }
  }

  /**
   * The delta pass: undefined when a full pass must decide instead; throws when the kernel refused the delta.
   * Reads only the changed floating IPs, plans against the applied record, and writes their status in one
   * transaction.
   */
  private async reconcileDelta(
    cause: string,
    fipIds: ReadonlySet<string>,
    started: number,
  ): Promise<ReconcileOutcome | undefined> {
    const applied = this.applied;
    if (!applied || applied.refusedAny) return undefined;
    const routerDataplane = this.deps.routerDataplaneFor(applied.backend, applied.role);
    const dataplane = routerDataplane.backend;
    if (!routerDataplane.acceptsDelta(applied.desired)) return undefined;
    const changes = await this.deps.store.read((view) => {
      const router = view.get('router', this.routerId);
      if (!router || this.roleOf(router) !== applied.role) return null;
      if (((router.backend as BackendName | null) ?? this.deps.defaultBackend) !== applied.backend)
        return null;
      const mapped = changedMappings(view, router, fipIds);
      return mapped && { ...mapped, changedAt: changeTimes(view, fipIds) };
    });
    if (!changes) return undefined;
    const localNamespace = this.deps.localNamespace ?? ((ns) => ns);
    // changedMappings does not read forwardings (see below): they are the ones last applied.
    const structure: DesiredRouter = {
      ...changes.structure,
      namespace: localNamespace(changes.structure.namespace),
      ...(applied.desired.forwardings && { forwardings: applied.desired.forwardings }),
    };
    // Forwardings are structure, but changedMappings does not read them (that takes every floating IP of the
    // router): any floating IP that has or may have had forwardings went to a full pass above or below.
    const forwarded = new Set((applied.desired.forwardings ?? []).map((f) => f.floatingIp as string));
    if (!sameStructure(applied.desired, structure)) return undefined;
    for (const [id, m] of changes.mappings) {
      // Gone or unmapped, never mapped here: it may have been a forwarding's floating IP.
      if (forwarded.size > 0 && !m && !applied.byId.has(id)) return undefined;
      if (m && forwarded.has(m.floatingIp)) return undefined;
    }
    // A backend that refuses QoS limits refuses a floating IP that now has some: only a full pass reports that.
    if (dataplane.qosRefusal && [...changes.mappings.values()].some((m) => m?.limits)) return undefined;
    // Which addresses the kernel holds: the router layer's record, which the delta below brings forward too.
    const recorded = routerDataplane.recorded(structure);
    if (!recorded) return undefined;
    const diff = mappingDiff(applied, recorded, changes.mappings);
    if (!diff) return undefined;
    const { added, removed, installed } = diff;
    let conntrackDeleted = 0;
    if (added.length + removed.length > 0) {
      const change: MappingChange = { added, removed };
      const plan = routerDataplane.planDelta(structure, change, installed);
      if (!plan) return undefined;
      try {
        await this.deps.guard?.arm(structure);
      } catch (error) {
        if (added.length > 0 || !(error instanceof GuardRefusal)) throw error;
      }
      // Out of the record first: if the apply fails halfway, nothing of this change is trusted.
      this.applied = undefined;
      const reading = this.reading;
      conntrackDeleted = await routerDataplane.applyDelta(plan, structure, change);
      commitDiff(applied, changes.mappings);
      this.applied = applied;
      reading?.landed.push(change);
      this.deps.log.debug(
        { router: this.routerId, cause, added: added.length, removed: removed.length },
        'applied delta',
      );
    }
    if (applied.role === 'owner') await this.report(changes.floatingIps, 'ACTIVE', '');
    const now = Date.now();
    return {
      changeLatenciesMs: changes.changedAt.map((at) => Math.max(0, now - at)),
      routerId: this.routerId,
      cause,
      durationMs: performance.now() - started,
      changed: added.length + removed.length > 0,
      rebuilt: false,
      drifted: false,
      added: added.length,
      removed: removed.length,
      conntrackDeleted,
    };
  }

  /** Removes this router's state from wherever it was last programmed. Returns whether anything was there. */
  async unprogram(): Promise<boolean> {
    const previous = this.programmed;
    this.applied = undefined;
    if (!previous) return false;
    try {
      await this.deps.routerDataplaneFor(previous.backend, this.role ?? 'owner').remove(previous);
    } catch (error) {
      // A namespace (or gateway device) that vanished took the router's state with it.
      if (!isNamespaceGone(error) && !/does not exist/.test((error as Error).message)) throw error;
    }
    await this.deps.guard?.disarm(previous);
    // Its namespace may be about to go: a channel process left in it would keep it alive.
    sharedChannels.close(previous.namespace);
    this.programmed = undefined;
    this.role = undefined;
    this.deps.log.info({ router: this.routerId, namespace: previous.namespace }, 'removed router state');
    return true;
  }

  /**
   * A backend that cannot program port forwardings (tc) leaves them out whole: their floating IPs become
   * ERROR naming the missing capability, and the router's 1:1 floating IPs are applied as usual. Returns the
   * refused floating IPs' ids, or undefined when nothing was refused.
   */
  private async refuseForwardings(
    intent: RouterIntent,
    backend: BackendName,
    reports: boolean,
  ): Promise<Set<string> | undefined> {
    if ((intent.desired?.forwardings ?? []).length === 0) return undefined;
    let reason: string | undefined;
    try {
      reason = this.deps.routerDataplaneFor(backend, 'owner').backend.portForwardingRefusal;
    } catch {
      return undefined; // an unusable backend fails the whole pass below, with its own reason
    }
    if (!reason || (intent.desired?.forwardings ?? []).length === 0) return undefined;
    const refused = intent.floatingIps.filter(
      (f) => (f.portForwardings ?? []).length > 0 && f.fixedIpAddress === null,
    );
    if (reports) await this.reportRefused(refused.map((floatingIp) => ({ floatingIp, reason })));
    return new Set(refused.map((f) => f.id));
  }

  /**
   * A backend that cannot enforce QoS limits (`qosRefusal`) leaves every floating IP with limits out whole: it
   * becomes ERROR naming the missing capability, never forwarded without its limits; the router's other
   * floating IPs are applied as usual. Returns the refused floating IPs' ids, or undefined when none was.
   */
  private async refuseLimited(
    intent: RouterIntent,
    backend: BackendName,
    reports: boolean,
  ): Promise<Set<string> | undefined> {
    const mappings = intent.desired?.mappings ?? [];
    if (!mappings.some((m) => m.limits)) return undefined;
    let reason: string | undefined;
    try {
      reason = this.deps.routerDataplaneFor(backend, 'owner').backend.qosRefusal;
    } catch {
      return undefined; // an unusable backend fails the whole pass below, with its own reason
    }
    if (!reason) return undefined;
    // routerIntent lists the mapped floating IPs first, in the order of `desired.mappings`.
    const refused = mappings.flatMap((m, i) => (m.limits ? [intent.floatingIps[i]!] : []));
    if (reports)
      await this.reportRefused(
        refused.map((floatingIp) => ({
          floatingIp,
          reason: `refusing to program: floating IP ${floatingIp.floatingIpAddress} has QoS policy ${floatingIp.qosPolicyId} with rate limits; ${reason}`,
        })),
      );
    return new Set(refused.map((f) => f.id));
  }

  private async reportRefused(refused: RouterIntent['refused']): Promise<void> {
    const stale = refused.filter(
      (r) => r.floatingIp.status !== 'ERROR' || r.floatingIp.statusReason !== r.reason,
    );
    if (stale.length === 0) return;
    this.deps.log.warn(
      {
        router: this.routerId,
        refused: stale.map((r) => ({ floatingIp: r.floatingIp.id, reason: r.reason })),
      },
      'refused floating IPs',
    );
    await writeStatuses(
      this.deps.store,
      this.deps.ctx,
      stale.map(({ floatingIp, reason }) => ({ fip: floatingIp, status: 'ERROR' as const, reason })),
    );
  }

  /**
   * The router's own status: ERROR with the reason, or ACTIVE with the backend's note (usually empty: what it
   * carries differently from what was asked, without failing), written only when it changes.
   */
  private async reportRouter(router: Router, reason: string, note = ''): Promise<void> {
    const status = reason ? 'ERROR' : 'ACTIVE';
    const text = reason || note;
    if ((router.status ?? 'ACTIVE') === status && (router.statusReason ?? '') === text) return;
    const written = await this.deps.store.update((tx) =>
      setRouterStatus(tx, this.deps.ctx, router.id, status, text),
    );
    this.statusRevision = written?.revisionNumber;
  }

  private async report(
    fips: readonly ReportedFloatingIp[],
    status: FloatingIpStatus,
    reason: string,
  ): Promise<void> {
    // Through the agent's status writer: one transaction for what every router's passes report within a few ms.
    await this.deps.statusWriter.write(statusChanges(fips, status, reason));
  }
}

/** Whether a plan only puts things in (elements, addresses), as it would for a read that lacked some. */
function onlyAdds(plan: Plan): boolean {
  return !plan.rebuild && plan.removed.length === 0 && plan.removeAddresses.length === 0;
}

/** Causes that must look at the kernel itself rather than at what the agent last applied. */
const FULL_READ_CAUSES = new Set(['resync', 'startup', 'feed-truncated', 'delta-refused']);

/**
 * Whether a pass for this cause reads the store and the kernel both, whatever the record says: it covers what a
 * periodic resync would check. A 'resync' itself may read only the kernel (kernelAsRecorded).
 */
export function readsStoreAndKernel(cause: string): boolean {
  return cause !== 'resync' && FULL_READ_CAUSES.has(cause);
}

/**
 * Every this many periodic resyncs of a router, one reads the store as well as the kernel (see
 * kernelAsRecorded): a safety net for a change the feed never delivered, every 5 minutes at the default
 * 30 s interval.
 */
const RESYNCS_PER_STORE_READ = 10;

/**
 * What a reconciler applied last: the router's structure, and each floating IP's mapping, so a delta knows what
 * a changed floating IP held before. Which addresses are taken is the router layer's record of the kernel
 * (router-dataplane.ts), kept once: with its inbound (floating -> fixed) and outbound (fixed -> floating) maps
 * beside these, two more maps of 100,000 addresses to ids cost 7 MiB.
 */
interface Applied {
  readonly desired: DesiredRouter;
  readonly backend: BackendName;
  readonly role: RouterRole;
  readonly byId: Map<string, FloatingMapping>;
  /** The last full pass refused some floating IP: a change may lift that, which only a full pass can see. */
  readonly refusedAny: boolean;
}

function recordApplied(
  desired: DesiredRouter,
  backend: BackendName,
  role: RouterRole,
  floatingIps: readonly ReportedFloatingIp[],
  refusedAny: boolean,
): Applied {
  const applied: Applied = {
    desired,
    backend,
    role,
    byId: new Map(),
    refusedAny,
  };
  // routerIntent builds the mappings from the accepted floating IPs, in the same order.
  desired.mappings.forEach((m, i) => applied.byId.set(floatingIps[i]!.id, m));
  return applied;
}

const sameMapping = (a: FloatingMapping, b: FloatingMapping) =>
  a.floatingIp === b.floatingIp &&
  a.fixedIp === b.fixedIp &&
  a.fixedMac === b.fixedMac &&
  limitsKey(a.limits) === limitsKey(b.limits);

/**
 * The mappings a set of changes adds and removes against the applied record, or undefined when an address
 * would be claimed twice (by another floating IP that did not change, or by two changed ones): only a full
 * pass decides claims, refusing every claimant. `installed`: the router layer's record, whose inbound and
 * outbound keys are the addresses of the applied mappings.
 */
function mappingDiff(
  applied: Applied,
  installed: Pick<BackendState, 'inbound' | 'outbound'>,
  changes: ReadonlyMap<string, FloatingMapping | null>,
): { added: FloatingMapping[]; removed: FloatingMapping[]; installed: number } | undefined {
  const added: FloatingMapping[] = [];
  const removed: FloatingMapping[] = [];
  // An installed address that a changed floating IP holds now may pass to another changed one; any other
  // installed address belongs to a floating IP outside the change.
  const heldByChanged = new Set<string>();
  for (const id of changes.keys()) {
    const old = applied.byId.get(id);
    if (old) heldByChanged.add(`floating ${old.floatingIp}`).add(`fixed ${old.fixedIp}`);
  }
  const claimed = new Set<string>();
  let count = applied.byId.size;
  for (const [id, m] of changes) {
    const old = applied.byId.get(id);
    if (m) {
      for (const [index, address, key] of [
        [installed.inbound, m.floatingIp, `floating ${m.floatingIp}`],
        [installed.outbound, m.fixedIp, `fixed ${m.fixedIp}`],
      ] as const) {
        if (index.has(address) && !heldByChanged.has(key)) return undefined;
        if (claimed.has(key)) return undefined;
        claimed.add(key);
      }
    }
    if (old && m && sameMapping(old, m)) continue;
    if (old) removed.push(old);
    if (m) added.push(m);
    count += (m ? 1 : 0) - (old ? 1 : 0);
  }
  return { added, removed, installed: count };
}

function commitDiff(applied: Applied, changes: ReadonlyMap<string, FloatingMapping | null>): void {
  for (const [id, m] of changes) {
    if (m) applied.byId.set(id, m);
    else applied.byId.delete(id);
  }
}

function sameTarget(a: ProgrammedRouter, b: RouterTarget, backend: BackendName): boolean {
  return a.namespace === b.namespace && a.gatewayDevice === b.gatewayDevice && a.backend === backend;
}

/** When each of the floating IPs still in the store last changed (epoch ms), for the change → applied latency. */
function changeTimes(view: View, fipIds: Iterable<string>): number[] {
  const times: number[] = [];
  for (const id of fipIds) {
    const at = Date.parse(view.get('floatingip', id)?.updatedAt ?? '');
    if (Number.isFinite(at)) times.push(at);
  }
  return times;
}
