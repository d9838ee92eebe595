import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseProjectId } from '../../auth/index.js';
import { SfipError } from '../../model/index.js';
import type { Store } from '../../store/index.js';

/** Keystone's project body, as much of it as clients read. */
const projectView = (id: string) => ({
  id,
  name: id,
  domain_id: 'default',
  description: '',
  enabled: true,
  is_domain: false,
  parent_id: 'default',
  tags: [],
});

/**
 * The projects a caller may name: its own, and for an admin every project that holds a token. sfip has no
 * Keystone; project ids come from tokens (`sfip token create --project P`), and a project's id is its name.
 */
async function knownProject(store: Store, request: FastifyRequest, id: string): Promise<boolean> {
  if (id === request.caller.projectId) return true;
  if (!request.caller.isAdmin) return false;
  return (await store.tokens.listTokens()).some((t) => t.projectId === id);
}

const PROJECT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * A Keystone-shaped project lookup: `openstack quota show|set PROJECT` resolves PROJECT through the identity API
 * first (`GET /projects/{id}`, then `GET /projects?name=`), at the endpoint it was given. A project the caller
 * may not name is 404 exactly like one that does not exist.
 */
export function registerProjects(app: FastifyInstance, store: Store): void {
  const tags = ['projects'];
  for (const base of ['/projects', '/v3/projects']) {
    app.get<{ Params: { id: string } }>(
      `${base}/:id`,
      { schema: { tags, summary: 'A project the caller may name' } },
      async (request) => {
        const { id } = request.params;
        if (!PROJECT_ID.test(id) || !(await knownProject(store, request, id))) {
          throw new SfipError('ProjectNotFound', 404, `Could not find project: ${id.slice(0, 64)}.`);
        }
        return { project: projectView(id) };
      },
    );
    app.get<{ Querystring: { name?: string } }>(
      base,
      { schema: { tags, summary: 'Projects the caller may name, by name' } },
      async (request) => {
        const { name } = request.query;
        if (name !== undefined) {
          const id = parseProjectId(name);
          return { projects: (await knownProject(store, request, id)) ? [projectView(id)] : [] };
        }
        const ids = new Set([request.caller.projectId]);
        if (request.caller.isAdmin) for (const t of await store.tokens.listTokens()) ids.add(t.projectId);
        return { projects: [...ids].sort().map(projectView) };
      },
    );
  }
}
