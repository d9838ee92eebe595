import type { Router, RouterStatus } from './entities.js';
import { revise } from './resource.js';
import type { Context, Tx } from './tx.js';

/**
 * The agent's report on a router. Written only when it changes, so a report does not wake the agent into an
 * endless loop of passes (its own write comes back on the change feed once, finds the same status, and stops).
 */
export function setRouterStatus(
  tx: Tx,
  ctx: Context,
  id: string,
  status: RouterStatus,
  reason: string,
): Router | undefined {
  const current = tx.get('router', id);
  if (!current) return undefined;
  if ((current.status ?? 'ACTIVE') === status && (current.statusReason ?? '') === reason) return current;
  const next = revise(ctx, current, { status, statusReason: reason });
  tx.put('router', next);
  return next;
}
