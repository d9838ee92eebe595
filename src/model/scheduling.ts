import { createHash } from 'node:crypto';
import type { Agent, Router } from './entities.js';
import { routersOfNodeKey } from './index-keys.js';
import { revise } from './resource.js';
import type { Context, Tx, View } from './tx.js';

/**
 * An agent's id, derived from its node name (a name-based UUID, version 5 layout): the same node always has the
 * same id, so "one live agent per node" is simply "one record per id".
 */
export function agentIdOf(host: string): string {
  const h = createHash('sha1').update(`sfip-l3-agent:${host}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Live agents (an agent is listed only while its lease holds), in host name order. */
export function liveAgents(view: View): Agent[] {
  return view.list('agent').sort((a, b) => a.host.localeCompare(b.host));
}

/** The live agent carrying a router, if any. */
export function agentOfRouter(view: View, router: Router): Agent | undefined {
  return router.node ? liveAgents(view).find((a) => a.host === router.node) : undefined;
}

/**
 * Where a new router goes: the live agent carrying the fewest routers, ties broken by host name so the choice
 * is deterministic. Null when no agent is registered (single-node: `sfip serve`'s own agent carries it).
 */
export function pickNode(view: View): string | null {
  let best: { host: string; load: number } | null = null;
  for (const agent of liveAgents(view)) {
    const load = view.lookup(routersOfNodeKey(agent.host)).length;
    if (!best || load < best.load) best = { host: agent.host, load };
  }
  return best?.host ?? null;
}

export interface RouterMove {
  readonly routerId: string;
  readonly from: string | null;
  readonly to: string;
}

/**
 * Places every router whose node has no live agent (its agent's lease expired, or none was live when it was
 * created) on the least loaded live agent. Routers on live agents never move, so a returning agent does not
 * pull routers back. Does nothing while no agent is live: the placement is kept for when one returns.
 */
export function rescheduleRouters(tx: Tx, ctx: Context): RouterMove[] {
  const agents = liveAgents(tx);
  if (agents.length === 0) return [];
  const load = new Map(agents.map((a) => [a.host, tx.lookup(routersOfNodeKey(a.host)).length]));
  const moves: RouterMove[] = [];
  const orphans = tx
    .list('router')
    .filter((r) => !r.node || !load.has(r.node))
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  for (const router of orphans) {
    let to = agents[0]!.host;
    for (const a of agents) if (load.get(a.host)! < load.get(to)!) to = a.host;
    load.set(to, load.get(to)! + 1);
    tx.put('router', revise(ctx, router, { node: to }));
    moves.push({ routerId: router.id, from: router.node ?? null, to });
  }
  return moves;
}

/** Routers scheduled to a node. */
export function routersOfNode(view: View, host: string): Router[] {
  return view.find('router', routersOfNodeKey(host));
}
