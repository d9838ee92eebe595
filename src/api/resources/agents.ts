import type { FastifyInstance } from 'fastify';
import {
  agentOfRouter,
  getVisible,
  notFoundError,
  routersOfNode,
  visibleTo,
  type Agent,
  type Context,
  type View,
} from '../../model/index.js';
import type { Store } from '../../store/index.js';
import { listPage } from '../list-query.js';
import { contextOf } from '../request-context.js';
import { routerView, type NeutronObject } from '../views.js';

const ATTRIBUTES = [
  'id',
  'agent_type',
  'binary',
  'host',
  'topic',
  'admin_state_up',
  'alive',
  'created_at',
  'started_at',
  'description',
  'configurations',
];

/** Neutron's agent body. Only live agents exist in sfip (a dead agent's record goes with its lease). */
export function agentView(agent: Agent, view: View): NeutronObject {
  return {
    id: agent.id,
    agent_type: agent.agentType,
    binary: agent.binary,
    host: agent.host,
    topic: 'l3_agent',
    admin_state_up: true,
    alive: true,
    created_at: agent.createdAt.replace(/\.\d+Z$/, 'Z'),
    started_at: agent.startedAt.replace(/\.\d+Z$/, 'Z'),
    heartbeat_timestamp: null,
    description: agent.description,
    availability_zone: null,
    resources_synced: null,
    configurations: {
      routers: routersOfNode(view, agent.host).length,
      lease_ttl_seconds: agent.leaseTtlSeconds,
    },
  };
}

/** Agents are an operator's view of the deployment: visible to admins only, as in Neutron's default policy. */
function visibleAgents(view: View, ctx: Context): Agent[] {
  return ctx.isAdmin ? view.list('agent') : [];
}

/**
 * Neutron's agent and L3 scheduler API: GET /v2.0/agents[/{id}], /v2.0/routers/{id}/l3-agents (the agent
 * carrying a router) and /v2.0/agents/{id}/l3-routers (the routers an agent carries).
 */
export function registerAgents(app: FastifyInstance, store: Store): void {
  app.get('/v2.0/agents', async (request) => {
    const ctx = contextOf(request);
    const objects = await store.read((view) => visibleAgents(view, ctx).map((a) => agentView(a, view)));
    const url = `${request.protocol}://${request.host}/v2.0/agents`;
    const page = listPage(
      'agent',
      'agents',
      objects,
      ATTRIBUTES,
      request.query as Record<string, string>,
      url,
    );
    return { agents: page.items, ...(page.links.length > 0 && { agents_links: page.links }) };
  });

  app.get<{ Params: { id: string } }>('/v2.0/agents/:id', async (request) => {
    const ctx = contextOf(request);
    return store.read((view) => {
      const agent = visibleAgents(view, ctx).find((a) => a.id === request.params.id);
      if (!agent) throw notFoundError('agent', request.params.id);
      return { agent: agentView(agent, view) };
    });
  });

  app.get<{ Params: { id: string } }>('/v2.0/agents/:id/l3-routers', async (request) => {
    const ctx = contextOf(request);
    return store.read((view) => {
      const agent = visibleAgents(view, ctx).find((a) => a.id === request.params.id);
      if (!agent) throw notFoundError('agent', request.params.id);
      return {
        routers: routersOfNode(view, agent.host)
          .filter((r) => visibleTo(ctx, r))
          .sort((a, b) => a.id.localeCompare(b.id))
          .map((r) => routerView(r)),
      };
    });
  });

  app.get<{ Params: { id: string } }>('/v2.0/routers/:id/l3-agents', async (request) => {
    const ctx = contextOf(request);
    return store.read((view) => {
      const router = getVisible(view, ctx, 'router', request.params.id);
      const agent = ctx.isAdmin ? agentOfRouter(view, router) : undefined;
      return { agents: agent ? [agentView(agent, view)] : [] };
    });
  });
}
