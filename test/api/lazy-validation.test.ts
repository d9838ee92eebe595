import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { buildApi, validatorsOf } from '../../src/api/index.js';
import { LazyValidators } from '../../src/api/lazy-validation.js';
import { SqliteStore } from '../../src/store/index.js';

interface NeutronErrorBody {
  readonly NeutronError: { readonly type: string; readonly message: string };
}

describe('API validators compiled on first use', () => {
  it('are not compiled by start, refuse bad input as before when first used, and compileAll does the rest', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const app = await buildApi({ store, logger: false, auth: 'none', docs: false });
    try {
      await app.ready();
      const validators = validatorsOf(app);
      assert.ok(validators, 'buildApi keeps its validators');
      const atStart = validators.uncompiled;
      assert.ok(atStart > 20, `every route's validators wait (${atStart})`);
      const bad = () =>
        app.inject({ method: 'POST', url: '/v2.0/networks', payload: { network: { description: 5 } } });
      const refused = await bad();
      assert.equal(refused.statusCode, 400);
      const error = refused.json<NeutronErrorBody>().NeutronError;
      assert.equal(error.type, 'HTTPBadRequest');
      assert.match(error.message, /Invalid input for description\. Reason: '5' is not a valid string/);
      const afterOne = validators.uncompiled;
      assert.ok(afterOne < atStart && afterOne > 0, 'the request compiled its own route only');
      const created = await app.inject({
        method: 'POST',
        url: '/v2.0/networks',
        payload: { network: { name: 'n' } },
      });
      assert.equal(created.statusCode, 201, 'good input passes the same validator');
      await validators.compileAll();
      assert.equal(validators.uncompiled, 0);
      assert.deepEqual((await bad()).json(), refused.json(), 'the same answer once everything is compiled');
    } finally {
      await app.close();
      await store.close();
    }
  });

  it('reports a schema ajv refuses, naming its route, when first used and from compileAll', async () => {
    const validators = new LazyValidators();
    const app = Fastify({
      schemaController: { compilersFactory: { buildValidator: validators.buildValidator } },
    });
    app.post('/broken', { schema: { body: { type: 'no-such-type' } } }, async () => ({ ok: true }));
    try {
      // Fastify's own start would have refused it; here the start goes through and the route fails instead.
      await app.ready();
      const answer = await app.inject({ method: 'POST', url: '/broken', payload: {} });
      assert.equal(answer.statusCode, 500);
      await assert.rejects(validators.compileAll(), /POST \/broken, body: .*no-such-type/);
    } finally {
      await app.close();
    }
  });
});
