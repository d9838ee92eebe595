import type { FastifyInstance } from 'fastify';
import type { PublicUrl } from './public-url.js';

const COLLECTIONS = ['networks', 'subnets', 'ports', 'routers', 'floatingips'];

function version(origin: string) {
  return {
    id: 'v2.0',
    status: 'CURRENT',
    links: [{ rel: 'self', href: `${origin}/v2.0/` }],
  };
}

/**
 * Version discovery. The openstack CLI first GETs the endpoint it was given: `/` answers with the list of
 * versions, and `/v2.0` (with or without the slash) with `{"version": ...}` plus Neutron's resource list, so
 * an endpoint given either way works. No token is needed, as in Neutron.
 */
export function registerVersions(app: FastifyInstance, publicUrl: PublicUrl): void {
  const config = { public: true };
  const schema = { tags: ['discovery'] };
  app.get('/', { config, schema: { ...schema, summary: 'API versions' } }, async () => ({
    versions: [version(publicUrl())],
  }));
  app.get(
    '/v2.0',
    { config, schema: { ...schema, summary: 'The v2.0 API and its resources' } },
    async () => ({
      version: version(publicUrl()),
      resources: COLLECTIONS.map((name) => ({
        name: name.replace(/s$/, ''),
        collection: name,
        links: [{ rel: 'self', href: `${publicUrl()}/v2.0/${name}` }],
      })),
    }),
  );
}
