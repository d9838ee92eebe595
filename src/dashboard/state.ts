import type { Observation } from '../metrics/observer.js';
import type { ReconcileEvent, ReconcileHistory } from '../metrics/reconcile-history.js';
import type { DashboardReconcile, DashboardState } from './state-types.js';

export const DEFAULT_FLOATING_IP_LIMIT = 200;
export const MAX_FLOATING_IP_LIMIT = 5000;

/** The dashboard's view of one observation and the reconcile history. */
export function dashboardState(
  observation: Observation,
  history: ReconcileHistory,
  options: { limit?: number; routerId?: string; events?: number } = {},
): DashboardState {
  const limit = options.limit ?? DEFAULT_FLOATING_IP_LIMIT;
  return {
    readAt: new Date(observation.at).toISOString(),
    routers: observation.routers
      .filter((r) => options.routerId === undefined || r.id === options.routerId)
      .map((r) => {
        const state = history.router(r.id);
        const count = (status: string) => r.floatingIps.filter((f) => f.status === status).length;
        return {
          id: r.id,
          name: r.name,
          backend: r.backend,
          namespace: r.namespace,
          gatewayDevice: r.gatewayDevice,
          problem: r.problem,
          countersSupported: r.countersSupported,
          countersError: r.countersError,
          statusCounts: { ACTIVE: count('ACTIVE'), DOWN: count('DOWN'), ERROR: count('ERROR') },
          lastReconcile: state ? reconcileView(state.last) : null,
          lastSuccessAt: state?.lastSuccessAt ? new Date(state.lastSuccessAt).toISOString() : null,
          floatingIps: r.floatingIps.slice(0, limit).map((f) => ({
            id: f.id,
            address: f.address,
            fixedIp: f.fixedIp,
            status: f.status,
            statusReason: f.statusReason,
            packetsIn: f.counters?.packetsIn ?? null,
            bytesIn: f.counters?.bytesIn ?? null,
            packetsOut: f.counters?.packetsOut ?? null,
            bytesOut: f.counters?.bytesOut ?? null,
          })),
          truncated: r.floatingIps.length > limit,
        };
      }),
    conntrack: observation.conntrack.map((c) => ({
      namespace: c.namespace,
      count: c.usage?.count ?? null,
      max: c.usage?.max ?? null,
      error: c.error,
    })),
    events: history
      .events()
      .slice(0, options.events ?? 20)
      .map(reconcileView),
  };
}

function reconcileView(e: ReconcileEvent): DashboardReconcile {
  return {
    at: e.at,
    routerId: e.routerId,
    kind: e.kind,
    cause: e.cause,
    durationMs: Math.round(e.durationMs * 10) / 10,
    added: e.added,
    removed: e.removed,
    error: e.error ?? null,
  };
}
