/**
 * Neutron's quotas API (issue 14): defaults, who may read and set them, usage in .../details, 409 OverQuota
 * checked in the creating transaction (concurrent creates cannot overshoot), router interface ports counted too,
 * and the Keystone-shaped project lookup and empty compute quota that `openstack quota show` needs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_QUOTAS } from '../../src/model/index.js';
import { apiFixture, type ApiFixture, type Json, type Project } from './fixture.js';

const errorOf = (body: Json) => body.NeutronError as { type: string; message: string };

describe('quotas through the API', () => {
  let f: ApiFixture;
  let alpha: Project;
  let beta: Project;

  before(async () => {
    f = await apiFixture();
    alpha = await f.project('alpha', '10.1.0.0/24');
    beta = await f.project('beta', '10.2.0.0/24');
  });
  after(() => f.close());

  /** What the project holds, counted from the API's own lists (as admin, filtered by project). */
  async function held(project: string): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const [collection, resource] of [
      ['networks', 'network'],
      ['subnets', 'subnet'],
      ['ports', 'port'],
      ['routers', 'router'],
      ['floatingips', 'floatingip'],
    ] as const) {
      const reply = await f.admin.get(`/v2.0/${collection}?project_id=${project}`);
      counts[resource] = (reply.body[collection] as Json[]).length;
    }
    return counts;
  }

  it("shows Neutron's defaults to a project for itself, and the default set", async () => {
    const own = await alpha.caller.get('/v2.0/quotas/alpha');
    assert.equal(own.status, 200);
    assert.deepEqual(own.body.quota, { floatingip: 50, network: 100, port: 500, router: 10, subnet: 100 });
    const defaults = await alpha.caller.get('/v2.0/quotas/alpha/default');
    assert.deepEqual(defaults.body.quota, DEFAULT_QUOTAS);
    assert.deepEqual((await alpha.caller.get('/v2.0/quotas/tenant')).body, {
      tenant: { tenant_id: 'alpha' },
    });
    for (const alias of ['quotas', 'quota_details']) {
      assert.equal((await alpha.caller.get(`/v2.0/extensions/${alias}`)).status, 200, alias);
    }
  });

  it("refuses another project's quota to a project (403 AdminRequired, as Neutron), never to an admin", async () => {
    for (const path of [
      '/v2.0/quotas/beta',
      '/v2.0/quotas/beta/default',
      '/v2.0/quotas/beta/details',
      '/os-quota-sets/beta',
      '/os-quota-sets/beta/defaults',
    ]) {
      const reply = await alpha.caller.get(path);
      assert.equal(reply.status, 403, path);
      assert.equal(errorOf(reply.body).type, 'AdminRequired');
      assert.equal((await f.admin.get(path)).status, 200, path);
      assert.equal((await f.anonymous.get(path)).status, 401, path);
    }
    const list = await alpha.caller.get('/v2.0/quotas');
    assert.equal(list.status, 403);
  });

  it('lets only an admin set or reset a quota; a refusal changes nothing', async () => {
    const before = await f.latestChange();
    for (const path of ['/v2.0/quotas/alpha', '/v2.0/quotas/beta']) {
      const set = await alpha.caller.put(path, { quota: { floatingip: 1000 } });
      assert.equal(set.status, 403, path);
      assert.equal(errorOf(set.body).type, 'AdminRequired');
      assert.equal((await alpha.caller.delete(path)).status, 403);
    }
    assert.equal(await f.latestChange(), before);
    assert.equal(((await alpha.caller.get('/v2.0/quotas/alpha')).body.quota as Json).floatingip, 50);
  });

  it('refuses bad limits and project ids by name, changing nothing', async () => {
    const before = await f.latestChange();
    for (const [path, quota, named] of [
      ['/v2.0/quotas/alpha', { floatingip: -2 }, /'-2' is not a valid quota for floatingip/],
      ['/v2.0/quotas/alpha', { floatingip: 1.5 }, /floatingip.*'1.5' is not a valid integer/],
      ['/v2.0/quotas/alpha', { floatingip: 'many' }, /'many' is not a valid quota for floatingip/],
      ['/v2.0/quotas/alpha', { security_group: 5 }, /'security_group'/],
      ['/v2.0/quotas/alpha', { constructor: 5 }, /'constructor'/],
      ['/v2.0/quotas/al%20pha', { floatingip: 5 }, /'al pha' is not a valid project id/],
    ] as const) {
      const reply = await f.admin.call('PUT', path, JSON.stringify({ quota }), {
        'content-type': 'application/json',
      });
      assert.equal(reply.status, 400, `${path} ${JSON.stringify(quota)}`);
      assert.match(errorOf(reply.body).message, named);
    }
    assert.equal(await f.latestChange(), before);
  });

  it('sets some limits, keeps the others, lists projects with their own limits and resets to defaults', async () => {
    const set = await f.admin.put('/v2.0/quotas/alpha', { quota: { router: 3, floatingip: '4' } });
    assert.equal(set.status, 200);
    assert.deepEqual(set.body.quota, { ...DEFAULT_QUOTAS, router: 3, floatingip: 4 });
    assert.equal(((await alpha.caller.get('/v2.0/quotas/alpha')).body.quota as Json).router, 3);
    const listed = (await f.admin.get('/v2.0/quotas')).body.quotas as Json[];
    assert.deepEqual(listed, [
      { project_id: 'alpha', tenant_id: 'alpha', ...DEFAULT_QUOTAS, router: 3, floatingip: 4 },
    ]);
    assert.equal((await f.admin.delete('/v2.0/quotas/alpha')).status, 204);
    assert.deepEqual((await alpha.caller.get('/v2.0/quotas/alpha')).body.quota, DEFAULT_QUOTAS);
    assert.deepEqual((await f.admin.get('/v2.0/quotas')).body.quotas, []);
    assert.equal((await f.admin.delete('/v2.0/quotas/alpha')).status, 204, 'a reset is idempotent');
  });

  it('reports usage in .../details as the resources the project holds, nothing reserved', async () => {
    const details = (await alpha.caller.get('/v2.0/quotas/alpha/details')).body.quota as Record<
      string,
      { used: number; limit: number; reserved: number }
    >;
    const counts = await held('alpha');
    for (const [resource, n] of Object.entries(counts)) {
      assert.deepEqual(
        details[resource],
        { used: n, limit: DEFAULT_QUOTAS[resource as keyof typeof DEFAULT_QUOTAS], reserved: 0 },
        resource,
      );
    }
    assert.ok(counts.port! >= 3 && counts.network === 1 && counts.router === 1);
  });

  it('answers 409 OverQuota past the limit, naming the resource, and creates nothing', async () => {
    await f.admin.put('/v2.0/quotas/alpha', { quota: { floatingip: 2 } });
    for (let i = 0; i < 2; i++) {
      await alpha.caller.create('floatingips', 'floatingip', { floating_network_id: f.externalNetworkId });
    }
    const before = await f.latestChange();
    const over = await alpha.caller.post('/v2.0/floatingips', {
      floatingip: { floating_network_id: f.externalNetworkId },
    });
    assert.equal(over.status, 409);
    assert.equal(errorOf(over.body).type, 'OverQuota');
    assert.equal(errorOf(over.body).message, "Quota exceeded for resources: ['floatingip'].");
    assert.equal(await f.latestChange(), before);
    assert.equal((await held('alpha')).floatingip, 2);
    // Another project's allowance is its own.
    await beta.caller.create('floatingips', 'floatingip', { floating_network_id: f.externalNetworkId });
    // Freed quota can be used again.
    const [first] = (await alpha.caller.get('/v2.0/floatingips')).body.floatingips as Json[];
    assert.equal((await alpha.caller.delete(`/v2.0/floatingips/${String(first!.id)}`)).status, 204);
    await alpha.caller.create('floatingips', 'floatingip', { floating_network_id: f.externalNetworkId });
  });

  it('never lets concurrent creates overshoot: 40 at once against a limit of 6 leave exactly 6', async () => {
    await f.admin.put('/v2.0/quotas/beta', { quota: { network: 6 } });
    const already = (await held('beta')).network!;
    const replies = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        beta.caller.post('/v2.0/networks', { network: { name: `b${i}` } }),
      ),
    );
    const created = replies.filter((r) => r.status === 201).length;
    assert.equal(created, 6 - already);
    assert.ok(replies.every((r) => r.status === 201 || errorOf(r.body).type === 'OverQuota'));
    assert.equal((await held('beta')).network, 6);
  });

  it("counts a router interface's port: add_router_interface past the port quota is 409, attaching nothing", async () => {
    const net = await beta.caller.create('networks', 'network', { name: 'extra' }).catch(() => undefined);
    // The network quota is full from the case above: raise it, then pin ports at what beta holds.
    assert.equal(net, undefined);
    await f.admin.put('/v2.0/quotas/beta', { quota: { network: 10 } });
    const extra = await beta.caller.create('networks', 'network', { name: 'extra' });
    const subnet = await beta.caller.create('subnets', 'subnet', {
      network_id: extra.id,
      cidr: '10.20.0.0/24',
    });
    const ports = (await held('beta')).port!;
    await f.admin.put('/v2.0/quotas/beta', { quota: { port: ports } });
    const before = await f.latestChange();
    const attach = await beta.caller.put(`/v2.0/routers/${beta.routerId}/add_router_interface`, {
      subnet_id: subnet.id,
    });
    assert.equal(attach.status, 409);
    assert.equal(errorOf(attach.body).message, "Quota exceeded for resources: ['port'].");
    assert.equal(await f.latestChange(), before);
    const port = await beta.caller.post('/v2.0/ports', { port: { network_id: extra.id } });
    assert.equal(port.status, 409);
    await f.admin.put('/v2.0/quotas/beta', { quota: { port: ports + 1 } });
    const attached = await beta.caller.put(`/v2.0/routers/${beta.routerId}/add_router_interface`, {
      subnet_id: subnet.id,
    });
    assert.equal(attached.status, 200);
  });

  it("does not limit an admin's own creates (operators and their tooling), which still count", async () => {
    await f.admin.put('/v2.0/quotas/admin', { quota: { network: 0 } });
    const made = await f.admin.post('/v2.0/networks', { network: { name: 'ops' } });
    assert.equal(made.status, 201);
    const details = (await f.admin.get('/v2.0/quotas/admin/details')).body.quota as Record<string, Json>;
    assert.deepEqual(details.network, { used: (await held('admin')).network, limit: 0, reserved: 0 });
  });

  it('answers the project lookup and empty compute quota openstack quota show needs, own project only', async () => {
    assert.deepEqual(((await alpha.caller.get('/projects/alpha')).body.project as Json).id, 'alpha');
    for (const path of ['/projects/beta', '/v3/projects/beta', '/projects/nobody', '/projects/..%2f']) {
      const reply = await alpha.caller.get(path);
      assert.equal(reply.status, 404, path);
      assert.equal(errorOf(reply.body).type, 'ProjectNotFound');
    }
    assert.deepEqual((await alpha.caller.get('/projects?name=beta')).body.projects, []);
    const own = (await alpha.caller.get('/projects')).body.projects as Json[];
    assert.deepEqual(
      own.map((p) => p.id),
      ['alpha'],
    );
    const all = (await f.admin.get('/projects')).body.projects as Json[];
    assert.deepEqual(
      all.map((p) => p.id),
      ['admin', 'alpha', 'beta'],
    );
    assert.equal(((await f.admin.get('/projects?name=beta')).body.projects as Json[]).length, 1);
    assert.equal((await f.admin.get('/projects/beta')).status, 200);
    assert.equal((await f.admin.get('/projects/never-had-a-token')).status, 404);
    assert.deepEqual((await alpha.caller.get('/os-quota-sets/alpha')).body, { quota_set: { id: 'alpha' } });
    assert.equal((await f.anonymous.get('/projects/alpha')).status, 401);
  });
});
