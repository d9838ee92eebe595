import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseProjectId } from '../../auth/index.js';
import {
  checkQuotaReader,
  DEFAULT_QUOTAS,
  listQuotas,
  parseQuotaLimits,
  QUOTA_RESOURCES,
  quotaLimits,
  quotaUsage,
  resetQuota,
  setQuota,
  type QuotaLimits,
} from '../../model/index.js';
import type { Store } from '../../store/index.js';
import { contextOf } from '../request-context.js';

type Params = { Params: { project_id: string } };

const QuotaBody = Type.Object(
  { quota: Type.Record(Type.String(), Type.Union([Type.Integer(), Type.String({ maxLength: 12 })])) },
  { additionalProperties: false },
);

const withProject = (projectId: string, limits: QuotaLimits) => ({
  project_id: projectId,
  tenant_id: projectId,
  ...limits,
});

/**
 * Neutron's quotas API (quotasv2 and quota_details): GET /v2.0/quotas (projects with limits of their own, admin),
 * GET/PUT/DELETE /v2.0/quotas/{project_id}, .../default and .../details (used, limit, reserved). A project reads
 * its own; another project's is 403 AdminRequired, as Neutron answers (every project id has a quota, so the
 * answer says nothing about whether the project exists). Changing any is admin only.
 */
export function registerQuotas(app: FastifyInstance, store: Store): void {
  const tags = ['quotas'];
  app.get(
    '/v2.0/quotas',
    { schema: { tags, summary: 'Projects with limits of their own (admin)' } },
    async (request) => {
      const ctx = contextOf(request);
      const quotas = await store.read((view) => listQuotas(view, ctx));
      return { quotas: quotas.map((q) => withProject(q.projectId, q.limits)) };
    },
  );
  // Neutron's way for a client to learn its own project id.
  app.get('/v2.0/quotas/tenant', { schema: { tags, summary: "The caller's project" } }, async (request) => ({
    tenant: { tenant_id: request.caller.projectId },
  }));
  const readable = (request: FastifyRequest, raw: string) => {
    const projectId = parseProjectId(raw);
    checkQuotaReader(contextOf(request), projectId);
    return projectId;
  };
  app.get<Params>(
    '/v2.0/quotas/:project_id',
    { schema: { tags, summary: "A project's limits" } },
    async (request) => {
      const projectId = readable(request, request.params.project_id);
      return { quota: await store.read((view) => quotaLimits(view, projectId)) };
    },
  );
  app.get<Params>(
    '/v2.0/quotas/:project_id/default',
    { schema: { tags, summary: 'The default limits' } },
    async (request) => {
      readable(request, request.params.project_id);
      return { quota: { ...DEFAULT_QUOTAS } };
    },
  );
  app.get<Params>(
    '/v2.0/quotas/:project_id/details',
    { schema: { tags, summary: "A project's usage against its limits" } },
    async (request) => {
      const projectId = readable(request, request.params.project_id);
      const { limits, used } = await store.read((view) => ({
        limits: quotaLimits(view, projectId),
        used: quotaUsage(view, projectId),
      }));
      const quota: Record<string, { used: number; limit: number; reserved: number }> = {};
      // Nothing is reserved: a create is counted in the transaction that writes it.
      for (const r of QUOTA_RESOURCES) quota[r] = { used: used[r], limit: limits[r], reserved: 0 };
      return { quota };
    },
  );
  // `openstack quota show` asks Nova and Cinder for their quotas first, at the one endpoint it was given (both
  // at /os-quota-sets/{project}), and stops at a 404. sfip has neither compute nor volumes: an empty set.
  for (const path of ['/os-quota-sets/:project_id', '/os-quota-sets/:project_id/defaults']) {
    app.get<Params>(
      path,
      { schema: { tags, summary: 'No compute or volume quotas (for openstack quota show)' } },
      async (request) => ({ quota_set: { id: readable(request, request.params.project_id) } }),
    );
  }
  app.put<Params & { Body: { quota: Record<string, unknown> } }>(
    '/v2.0/quotas/:project_id',
    { schema: { tags, summary: "Set some of a project's limits (admin)", body: QuotaBody } },
    async (request) => {
      const ctx = contextOf(request);
      const projectId = parseProjectId(request.params.project_id);
      const limits = parseQuotaLimits(request.body.quota);
      return { quota: await store.update((tx) => setQuota(tx, ctx, projectId, limits)) };
    },
  );
  app.delete<Params>(
    '/v2.0/quotas/:project_id',
    { schema: { tags, summary: 'Return a project to the default limits (admin)' } },
    async (request, reply) => {
      const ctx = contextOf(request);
      const projectId = parseProjectId(request.params.project_id);
      await store.update((tx) => resetQuota(tx, ctx, projectId));
      return reply.status(204).send();
    },
  );
}
