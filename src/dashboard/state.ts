import type { Observation } from '../metrics/observer.js';
import type { ReconcileEvent, ReconcileHistory } from '../metrics/reconcile-history.js';
import type { DashboardReconcile, DashboardState } from './state-types.js';

export const DEFAULT_FLOATING_IP_LIMIT = 200;
export const MAX_FLOATING_IP_LIMIT = 5000;

export interface DashboardQuery {
  /** Floating IPs per router in one page. */
  readonly limit?: number;
  /** How many matching floating IPs (by address) to skip: the page starts there. */
  readonly offset?: number;
  /** Only floating IPs whose floating or fixed address starts with this (a validated address prefix). */
  readonly search?: string;
  readonly routerId?: string;
  readonly events?: number;
}

/** What `search` may be: the start of a dotted-quad address, digits and dots only. */
export const ADDRESS_PREFIX = /^[0-9.]{1,15}$/;

/**
 * The dashboard's view of one observation and the reconcile history. At 100,000 floating IPs a router is one
 * page of them (`limit` from `offset`, optionally only those matching `search`), so the page the browser gets
 * stays small; `matched` says how many there are in all.
 */
export function dashboardState(
  observation: Observation,
  history: ReconcileHistory,
  options: DashboardQuery = {},
): DashboardState {
  const limit = options.limit ?? DEFAULT_FLOATING_IP_LIMIT;
  const offset = options.offset ?? 0;
  const search = options.search;
  return {
    readAt: new Date(observation.at).toISOString(),
    routers: observation.routers
      .filter((r) => options.routerId === undefined || r.id === options.routerId)
      .map((r) => {
        const state = history.router(r.id);
        // Positions, as a router's counters are kept beside its floating IPs (ObservedRouter.counters).
        const matching: number[] = [];
        r.floatingIps.forEach((f, i) => {
          if (!search || f.address.startsWith(search) || f.fixedIp?.startsWith(search)) matching.push(i);
        });
        return {
          id: r.id,
          name: r.name,
          backend: r.backend,
          namespace: r.namespace,
          gatewayDevice: r.gatewayDevice,
          problem: r.problem,
          countersSupported: r.countersSupported,
          countersError: r.countersError,
          statusCounts: { ...r.statusCounts },
          lastReconcile: state ? reconcileView(state.last) : null,
          lastSuccessAt: state?.lastSuccessAt ? new Date(state.lastSuccessAt).toISOString() : null,
          floatingIpCount: r.floatingIps.length,
          matched: matching.length,
          offset,
          floatingIps: matching.slice(offset, offset + limit).map((i) => {
            const f = r.floatingIps[i]!;
            const c = r.counters[i];
            return {
              id: f.id,
              address: f.address,
              fixedIp: f.fixedIp,
              status: f.status,
              statusReason: f.statusReason,
              packetsIn: c?.packetsIn ?? null,
              bytesIn: c?.bytesIn ?? null,
              packetsOut: c?.packetsOut ?? null,
              bytesOut: c?.bytesOut ?? null,
            };
          }),
          truncated: matching.length > offset + limit,
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
