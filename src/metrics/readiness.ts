import type { ReconcileHistory } from './reconcile-history.js';

export interface Readiness {
  readonly ready: boolean;
  readonly detail: string;
}

const list = (ids: readonly string[]) =>
  ids.slice(0, 5).join(', ') + (ids.length > 5 ? `, and ${ids.length - 5} more` : '');

/**
 * Ready means every router in the store has been through at least one reconcile pass since the agent started
 * (the store being reachable is checked by the caller), and the last pass of none of them failed. A failing
 * router makes it not ready, named with its reason: a load balancer or an operator must not read 200 "ready"
 * while floating IPs of a router cannot be programmed (its namespace or gateway device missing, say).
 */
export function agentReadiness(
  history: ReconcileHistory,
  agentStarted: boolean,
  routerIds: readonly string[],
): Readiness {
  const waiting = history.notYetReconciled(routerIds);
  if (waiting.length > 0) return { ready: false, detail: `not yet reconciled: ${list(waiting)}` };
  if (!agentStarted) return { ready: false, detail: 'agent starting' };
  const failing = routerIds.filter((id) => history.router(id)?.last.kind === 'error');
  if (failing.length > 0) {
    const reasons = failing.map((id) => `${id} (${history.router(id)?.last.error ?? 'unknown error'})`);
    return { ready: false, detail: `${routerIds.length} router(s) reconciled; failing: ${list(reasons)}` };
  }
  return { ready: true, detail: `${routerIds.length} router(s) reconciled` };
}
