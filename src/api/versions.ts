import type { FastifyInstance, FastifyRequest } from 'fastify';

const COLLECTIONS = ['networks', 'subnets', 'ports', 'routers', 'floatingips'];

const origin = (request: FastifyRequest) => `${request.protocol}://${request.host}`;

function version(request: FastifyRequest) {
  return {
    id: 'v2.0',
    status: 'CURRENT',
    links: [{ rel: 'self', href: `${origin(request)}/v2.0/` }],
  };
}

/**
 * Version discovery. The openstack CLI first GETs the endpoint it was given: `/` answers with the list of
 * versions, and `/v2.0` (with or without the slash) with `{"version": ...}` plus Neutron's resource list, so
 * an endpoint given either way works. No token is needed, as in Neutron.
 */
export function registerVersions(app: FastifyInstance): void {
  const config = { public: true };
  const schema = { tags: ['discovery'] };
  app.get('/', { config, schema: { ...schema, summary: 'API versions' } }, async (request) => ({
    versions: [version(request)],
  }));
  app.get(
    '/v2.0',
    { config, schema: { ...schema, summary: 'The v2.0 API and its resources' } },
    async (request) => ({
      version: version(request),
      resources: COLLECTIONS.map((name) => ({
        name: name.replace(/s$/, ''),
        collection: name,
        links: [{ rel: 'self', href: `${origin(request)}/v2.0/${name}` }],
      })),
    }),
  );
}
