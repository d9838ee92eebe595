import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildApi } from '../../src/api/index.js';
import { SqliteStore } from '../../src/store/index.js';
import type { FastifyInstance } from 'fastify';

type Json = Record<string, unknown>;

describe('OpenAPI document, browsable docs and extensions', () => {
  let app: FastifyInstance;
  let store: SqliteStore;
  before(async () => {
    store = new SqliteStore({ path: ':memory:' });
    app = await buildApi({ store, logger: false });
  });
  after(async () => {
    await app.close();
    await store.close();
  });

  it('serves an OpenAPI 3 document without a token, covering every route with X-Auth-Token security', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    const doc = res.json() as Json;
    assert.match(String(doc.openapi), /^3\./);
    const paths = doc.paths as Record<string, Record<string, Json>>;
    for (const path of [
      '/v2.0/floatingips',
      '/v2.0/floatingips/{id}',
      '/v2.0/floatingips/{id}/tags',
      '/v2.0/networks',
      '/v2.0/subnets',
      '/v2.0/ports',
      '/v2.0/routers/{id}/add_router_interface',
      '/v2.0/extensions',
    ]) {
      assert.ok(paths[path], `missing ${path}`);
    }
    const create = paths['/v2.0/floatingips']!.post!;
    const body = JSON.stringify(create.requestBody);
    assert.match(body, /floating_network_id/);
    assert.ok((create.responses as Json)['201']);
    assert.match(JSON.stringify((create.responses as Json)['409']), /NeutronError/);
    const schemes = (doc.components as Json).securitySchemes as Record<string, Json>;
    assert.deepEqual(schemes.token, { type: 'apiKey', in: 'header', name: 'X-Auth-Token' });
    assert.equal(paths['/healthz'], undefined, 'internal routes stay out of the document');
  });

  it('serves the browsable docs without a token', async () => {
    const res = await app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /text\/html/);
    assert.match(res.body, /swagger/i);
  });

  it('lists the Neutron extensions clients probe for, behind a token', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/v2.0/extensions' })).statusCode, 401);
    const none = await buildApi({ store, logger: false, auth: 'none', docs: false });
    try {
      const list = (await none.inject({ method: 'GET', url: '/v2.0/extensions' })).json() as {
        extensions: Json[];
      };
      const aliases = list.extensions.map((e) => e.alias);
      for (const alias of [
        'router',
        'external-net',
        'standard-attr-tag',
        'revision-if-match',
        'pagination',
        'sorting',
      ]) {
        assert.ok(aliases.includes(alias), alias);
      }
      const one = await none.inject({ method: 'GET', url: '/v2.0/extensions/router' });
      assert.equal((one.json() as { extension: Json }).extension.alias, 'router');
      const missing = await none.inject({ method: 'GET', url: '/v2.0/extensions/dvr' });
      assert.equal(missing.statusCode, 404);
      assert.match(String((missing.json() as { NeutronError: Json }).NeutronError.message), /dvr/);
    } finally {
      await none.close();
    }
  });
});
