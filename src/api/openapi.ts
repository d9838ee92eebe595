import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { NeutronErrorSchema } from './openapi-schemas.js';

/**
 * The OpenAPI 3 document at /openapi.json and browsable docs at /docs. Both are public: they describe the API,
 * they do not expose data. Must be registered before the routes it documents.
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  app.addSchema(NeutronErrorSchema);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'sfip: Neutron-compatible floating IP API',
        description:
          'The Neutron v2.0 L3 API subset sfip serves: networks, subnets, ports, routers and floating IPs. ' +
          'Send a token from `sfip token create` in X-Auth-Token. Errors are NeutronError bodies.',
        version: '2.0',
      },
      components: {
        securitySchemes: { token: { type: 'apiKey', in: 'header', name: 'X-Auth-Token' } },
      },
      security: [{ token: [] }],
      tags: [
        { name: 'resources', description: 'Neutron resources' },
        { name: 'tags', description: 'The tags sub-resource of every resource' },
        { name: 'discovery', description: 'Versions and extensions' },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  const config = { public: true };
  app.get('/openapi.json', { config, schema: { hide: true } }, async () => app.swagger());
}
