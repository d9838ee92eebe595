import type { FastifyInstance, FastifyRequest } from 'fastify';

const COLLECTIONS = ['networks', 'subnets', 'ports', 'routers', 'floatingips'];

function version(request: FastifyRequest) {
  return {
    id: 'v2.0',
    status: 'CURRENT',
    links: [{ rel: 'self', href: `${request.protocol}://${request.host}/v2.0/` }],
  };
}

/**
 * Version discovery. The openstack CLI first GETs `/`; if the endpoint it was given already ends in /v2.0 it
 * GETs that instead and expects `{"version": ...}`. Both forms are answered.
 */
export function registerVersions(app: FastifyInstance): void {
  app.get('/', async (request) => ({ versions: [version(request)] }));
  app.get('/v2.0', async (request) => ({
    version: version(request),
    resources: COLLECTIONS.map((name) => ({
      name: name.replace(/s$/, ''),
      collection: name,
      links: [{ rel: 'self', href: `${request.protocol}://${request.host}/v2.0/${name}` }],
    })),
  }));
}
