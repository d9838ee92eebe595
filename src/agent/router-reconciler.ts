import type { Logger } from 'pino';
import {
  setFloatingIpStatus,
  setRouterStatus,
  type BackendName,
  type Context,
  type FloatingIp,
  type FloatingIpStatus,
  type Router,
} from '../model/index.js';
import type { Store } from '../store/index.js';
import { deleteStaleConntrack, routerIntent, sendGratuitousArp, isEmptyPlan } from '../dataplane/index.js';
import type {
  ActualRouter,
  Dataplane,
  DesiredRouter,
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
}

export interface ReconcilerDeps {
  readonly store: Store;
  readonly dataplaneFor: (name: BackendName) => Dataplane;
  readonly defaultBackend: BackendName;
  readonly log: Logger;
  readonly ctx: Context;
  readonly garp: boolean;
  readonly conntrackCleanup: boolean;
  /** Called when GARP finishes or fails; GARP runs in the background so that it never delays an apply. */
  readonly onBackgroundError: (error: unknown) => void;
  /** Whether this agent carries the router; one it does not carry is removed from this node. Default: all. */
  readonly ownsRouter?: (router: Router) => boolean;
  /** The name on this node of a router's namespace. Default: the name itself. */
  readonly localNamespace?: (namespace: string | null) => string | null;
  readonly guard?: RouterGuard;
}

/**
 * Brings one router's kernel state to what the store says: read desired, read actual, apply the difference,
 * then report per-floating-IP status. Never flushes what is already right, so restarts are hitless.
 */
export class RouterReconciler {
  programmed: ProgrammedRouter | undefined;
  last: ReconcileOutcome | undefined;
  /** The revision of the router this reconciler's own status report wrote: that change needs no pass. */
  statusRevision: number | undefined;
  /** What the kernel holds after this reconciler's last successful apply; unset after any failure. */
  private applied: { desired: DesiredRouter; state: ActualRouter } | undefined;

  constructor(
    readonly routerId: string,
    private readonly deps: ReconcilerDeps,
    programmed?: ProgrammedRouter,
  ) {
    this.programmed = programmed;
  }

  async reconcile(cause: string): Promise<ReconcileOutcome> {
    const started = performance.now();
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
    const owns = this.deps.ownsRouter ?? (() => true);
    const intent = await store.read((view) => {
      const router = view.get('router', this.routerId);
      return router && owns(router) ? routerIntent(view, router) : undefined;
    });
    // Refused mappings never reach the kernel, whatever becomes of the rest of the router.
    if (intent && intent.refused.length > 0) await this.reportRefused(intent.refused);
    if (!intent || !intent.desired) {
      const changed = await this.unprogram();
      if (intent && intent.problem && intent.floatingIps.length > 0) {
        await this.report(intent.floatingIps, 'ERROR', intent.problem);
        await this.reportRouter(intent.router, intent.problem);
      } else if (intent) await this.reportRouter(intent.router, '');
      return (this.last = outcome({ changed }));
    }
    const localNamespace = this.deps.localNamespace ?? ((ns) => ns);
    const backend = (intent.router.backend as BackendName | null) ?? this.deps.defaultBackend;
    const refusal = await this.refuseForwardings(intent, backend);
    const { forwardings: _forwardings, ...withoutForwardings } = intent.desired;
    const desired: DesiredRouter = {
      ...(refusal ? withoutForwardings : intent.desired),
      namespace: localNamespace(intent.desired.namespace),
    };
    const floatingIps = refusal ? intent.floatingIps.filter((f) => !refusal.has(f.id)) : intent.floatingIps;
    try {
      if (this.programmed && !sameTarget(this.programmed, desired, backend)) await this.unprogram();
      const dataplane = this.deps.dataplaneFor(backend);
      // Between full reads, trust what this reconciler itself applied last: reading 100,000 map elements back
      // costs seconds, applying one change milliseconds. Resyncs and restarts always read the kernel.
      const previous =
        this.applied && sameStructure(this.applied.desired, desired) ? this.applied : undefined;
      const actual =
        previous && !FULL_READ_CAUSES.has(cause) ? previous.state : await dataplane.read(desired, desired);
      // Drift: the kernel no longer holds what this reconciler applied last. New store changes picked up by a
      // resync pass are not drift.
      const drifted =
        previous !== undefined && actual !== previous.state && !sameKernelState(actual, previous.state);
      this.applied = undefined;
      const plan = dataplane.plan(desired, actual);
      this.programmed = {
        routerId: desired.routerId,
        namespace: desired.namespace,
        gatewayDevice: desired.gatewayDevice,
        backend,
      };
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
      if (!isEmptyPlan(plan)) {
        await dataplane.apply(plan);
        if (this.deps.conntrackCleanup)
          conntrackDeleted = await this.cleanConntrack(desired.namespace, plan.added, plan.removed);
        if (this.deps.garp && plan.addAddresses.length > 0) {
          sendGratuitousArp(desired, plan.addAddresses).catch(this.deps.onBackgroundError);
        }
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
      this.applied = { desired, state: appliedState(desired) };
      await this.report(floatingIps, 'ACTIVE', '');
      await this.reportRouter(intent.router, '');
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
      await this.report(floatingIps, 'ERROR', reason).catch(() => undefined);
      await this.reportRouter(intent.router, reason).catch(() => undefined);
      return (this.last = outcome({ error: reason }));
    }
  }

  /** Removes this router's state from wherever it was last programmed. Returns whether anything was there. */
  async unprogram(): Promise<boolean> {
    const previous = this.programmed;
    this.applied = undefined;
    if (!previous) return false;
    const dataplane = this.deps.dataplaneFor(previous.backend);
    try {
      await dataplane.remove(previous);
    } catch (error) {
      // A namespace that vanished took the router's state with it.
      if (!/does not exist|Cannot open network namespace/.test((error as Error).message)) throw error;
    }
    await this.deps.guard?.disarm(previous);
    this.programmed = undefined;
    this.deps.log.info({ router: this.routerId, namespace: previous.namespace }, 'removed router state');
    return true;
  }

  private async cleanConntrack(
    namespace: string | null,
    added: readonly { floatingIp: string; fixedIp: string }[],
    removed: readonly { floatingIp: string; fixedIp: string }[],
  ): Promise<number> {
    const changed = [...added, ...removed];
    return deleteStaleConntrack(namespace, {
      fixedIps: changed.map((m) => m.fixedIp),
      floatingIps: changed.map((m) => m.floatingIp),
    });
  }

  /**
   * A backend that cannot program port forwardings (tc, eBPF) leaves them out whole: their floating IPs become
   * ERROR naming the missing capability, and the router's 1:1 floating IPs are applied as usual. Returns the
   * refused floating IPs' ids, or undefined when nothing was refused.
   */
  private async refuseForwardings(
    intent: RouterIntent,
    backend: BackendName,
  ): Promise<Set<string> | undefined> {
    if ((intent.desired?.forwardings ?? []).length === 0) return undefined;
    let reason: string | undefined;
    try {
      reason = this.deps.dataplaneFor(backend).portForwardingRefusal;
    } catch {
      return undefined; // an unusable backend fails the whole pass below, with its own reason
    }
    if (!reason || (intent.desired?.forwardings ?? []).length === 0) return undefined;
    const refused = intent.floatingIps.filter(
      (f) => (f.portForwardings ?? []).length > 0 && f.fixedIpAddress === null,
    );
    await this.reportRefused(refused.map((floatingIp) => ({ floatingIp, reason })));
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
    await this.deps.store.update((tx) => {
      for (const { floatingIp, reason } of stale) {
        setFloatingIpStatus(tx, this.deps.ctx, floatingIp.id, floatingIp, 'ERROR', reason);
      }
    });
  }

  /** The router's own status: ERROR with the reason (empty for ACTIVE), written only when it changes. */
  private async reportRouter(router: Router, reason: string): Promise<void> {
    const status = reason ? 'ERROR' : 'ACTIVE';
    if ((router.status ?? 'ACTIVE') === status && (router.statusReason ?? '') === reason) return;
    const written = await this.deps.store.update((tx) =>
      setRouterStatus(tx, this.deps.ctx, router.id, status, reason),
    );
    this.statusRevision = written?.revisionNumber;
  }

  private async report(fips: readonly FloatingIp[], status: FloatingIpStatus, reason: string): Promise<void> {
    const stale = fips.filter((f) => f.status !== status || f.statusReason !== reason);
    if (stale.length === 0) return;
    await this.deps.store.update((tx) => {
      for (const fip of stale) setFloatingIpStatus(tx, this.deps.ctx, fip.id, fip, status, reason);
    });
  }
}

/** Causes that must look at the kernel itself rather than at what the agent last applied. */
const FULL_READ_CAUSES = new Set(['resync', 'startup', 'feed-truncated']);

function appliedState(desired: DesiredRouter): ActualRouter {
  return {
    present: true,
    structureMatches: true,
    inbound: new Map(desired.mappings.map((m) => [m.floatingIp as string, m.fixedIp as string])),
    outbound: new Map(desired.mappings.map((m) => [m.fixedIp as string, m.floatingIp as string])),
    addresses: new Set(desired.mappings.map((m) => m.floatingIp as string)),
    macs: new Map(desired.mappings.flatMap((m) => (m.fixedMac ? [[m.fixedIp as string, m.fixedMac]] : []))),
  };
}

/** Whether a kernel read shows exactly the state this reconciler had applied. */
function sameKernelState(a: ActualRouter, b: ActualRouter): boolean {
  const sameMap = (x: ReadonlyMap<string, string>, y: ReadonlyMap<string, string>) =>
    x.size === y.size && [...x].every(([k, v]) => y.get(k) === v);
  return (
    a.present === b.present &&
    a.structureMatches === b.structureMatches &&
    sameMap(a.inbound, b.inbound) &&
    sameMap(a.outbound, b.outbound) &&
    a.addresses.size === b.addresses.size &&
    [...a.addresses].every((ip) => b.addresses.has(ip))
  );
}

/** Everything but the mappings: when this changes, the backend may have to rebuild, so read the kernel. */
function sameStructure(a: DesiredRouter, b: DesiredRouter): boolean {
  return (
    a.namespace === b.namespace &&
    a.gatewayDevice === b.gatewayDevice &&
    a.gatewayIp === b.gatewayIp &&
    (a.antiSpoofing ?? true) === (b.antiSpoofing ?? true) &&
    a.internalCidrs.join() === b.internalCidrs.join() &&
    // Forwardings are part of the nftables structure (their digest is in the rule comments): a change rereads.
    JSON.stringify(a.forwardings ?? []) === JSON.stringify(b.forwardings ?? [])
  );
}

function sameTarget(a: ProgrammedRouter, b: RouterTarget, backend: BackendName): boolean {
  return a.namespace === b.namespace && a.gatewayDevice === b.gatewayDevice && a.backend === backend;
}
