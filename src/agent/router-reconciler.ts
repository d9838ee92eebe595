import type { Logger } from 'pino';
import {
  setFloatingIpStatus,
  type BackendName,
  type Context,
  type FloatingIp,
  type FloatingIpStatus,
} from '../model/index.js';
import type { Store } from '../store/index.js';
import { deleteStaleConntrack, routerIntent, sendGratuitousArp, isEmptyPlan } from '../dataplane/index.js';
import type { ActualRouter, Dataplane, DesiredRouter, RouterTarget } from '../dataplane/index.js';

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
}

/**
 * Brings one router's kernel state to what the store says: read desired, read actual, apply the difference,
 * then report per-floating-IP status. Never flushes what is already right, so restarts are hitless.
 */
export class RouterReconciler {
  programmed: ProgrammedRouter | undefined;
  last: ReconcileOutcome | undefined;
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
      added: 0,
      removed: 0,
      conntrackDeleted: 0,
      ...fields,
    });
    const { store, log } = this.deps;
    const intent = await store.read((view) => {
      const router = view.get('router', this.routerId);
      return router ? routerIntent(view, router) : undefined;
    });
    if (!intent || !intent.desired) {
      const changed = await this.unprogram();
      if (intent && intent.problem && intent.floatingIps.length > 0) {
        await this.report(intent.floatingIps, 'ERROR', intent.problem);
      }
      return (this.last = outcome({ changed }));
    }
    const desired = intent.desired;
    const backend = (intent.router.backend as BackendName | null) ?? this.deps.defaultBackend;
    try {
      if (this.programmed && !sameTarget(this.programmed, desired, backend)) await this.unprogram();
      const dataplane = this.deps.dataplaneFor(backend);
      // Between full reads, trust what this reconciler itself applied last: reading 100,000 map elements back
      // costs seconds, applying one change milliseconds. Resyncs and restarts always read the kernel.
      const cached =
        this.applied && sameStructure(this.applied.desired, desired) && !FULL_READ_CAUSES.has(cause);
      const actual = cached ? this.applied!.state : await dataplane.read(desired, desired);
      this.applied = undefined;
      const plan = dataplane.plan(desired, actual);
      this.programmed = {
        routerId: desired.routerId,
        namespace: desired.namespace,
        gatewayDevice: desired.gatewayDevice,
        backend,
      };
      let conntrackDeleted = 0;
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
          cause === 'resync' ? 'repaired drift' : 'applied',
        );
      }
      this.applied = { desired, state: appliedState(desired) };
      await this.report(intent.floatingIps, 'ACTIVE', '');
      return (this.last = outcome({
        changed: !isEmptyPlan(plan),
        rebuilt: plan.rebuild,
        added: plan.added.length,
        removed: plan.removed.length,
        conntrackDeleted,
      }));
    } catch (error) {
      const reason = (error as Error).message;
      log.error({ router: this.routerId, cause, err: reason }, 'reconcile failed');
      await this.report(intent.floatingIps, 'ERROR', reason).catch(() => undefined);
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

/** Everything but the mappings: when this changes, the backend may have to rebuild, so read the kernel. */
function sameStructure(a: DesiredRouter, b: DesiredRouter): boolean {
  return (
    a.namespace === b.namespace &&
    a.gatewayDevice === b.gatewayDevice &&
    a.gatewayIp === b.gatewayIp &&
    (a.antiSpoofing ?? true) === (b.antiSpoofing ?? true) &&
    a.internalCidrs.join() === b.internalCidrs.join()
  );
}

function sameTarget(a: ProgrammedRouter, b: RouterTarget, backend: BackendName): boolean {
  return a.namespace === b.namespace && a.gatewayDevice === b.gatewayDevice && a.backend === backend;
}
