import type { ReconcileHistory } from './reconcile-history.js';

export interface Readiness {
  readonly ready: boolean;
  readonly detail: string;
}

const list = (ids: readonly string[]) =>
  ids.slice(0, 5).join(', ') + (ids.length > 5 ? `, and ${ids.length - 5} more` : '');

/**
 * Ready means every router in the store has been through at least one reconcile pass since the agent started
 * (the store being reachable is checked by the caller). A router whose pass failed still counts: it has been
 * looked at, its floating IPs say ERROR with the reason, and the detail names it.
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
  return {
    ready: true,
    detail:
      `${routerIds.length} router(s) reconciled` + (failing.length ? `; failing: ${list(failing)}` : ''),
  };
}
