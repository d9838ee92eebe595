import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { issueToken } from '../../src/auth/index.js';
import { serve } from '../../src/daemon/serve.js';
import { apiFixture, Caller, type ApiFixture, type Json, type Project } from './fixture.js';

const errorOf = (reply: { body: Json }) => reply.body.NeutronError as Json;

describe('authentication and project isolation', () => {
  let f: ApiFixture;
  let alice: Project;
  let bob: Project;
  let aliceFip: Json;

  before(async () => {
    f = await apiFixture();
    alice = await f.project('alice', '10.1.0.0/24');
    bob = await f.project('bob', '10.2.0.0/24');
    aliceFip = await alice.caller.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
      port_id: alice.ports.vm1.id,
    });
  });
  after(() => f.close());

  it('answers 401 HTTPUnauthorized without a token, or with an unknown one, changing nothing', async () => {
    const before = await f.latestChange();
    for (const token of [
      undefined,
      'notused',
      'sfip_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    ]) {
      const caller = new Caller(f.app, token);
      for (const [method, url, body] of [
        ['GET', '/v2.0/floatingips', undefined],
        ['POST', '/v2.0/floatingips', { floatingip: { floating_network_id: f.externalNetworkId } }],
        ['DELETE', `/v2.0/floatingips/${String(aliceFip.id)}`, undefined],
        ['GET', '/v2.0/extensions', undefined],
      ] as const) {
        const reply = await caller.call(method, url, body);
        assert.equal(reply.status, 401, `${method} ${url} with ${String(token)}`);
        assert.equal(errorOf(reply).type, 'HTTPUnauthorized');
        assert.match(String(reply.headers['www-authenticate']), /X-Auth-Token/);
      }
    }
    assert.equal(await f.latestChange(), before);
  });

  it('answers version discovery and health without a token', async () => {
    for (const url of ['/', '/v2.0', '/v2.0/', '/healthz']) {
      assert.equal((await f.anonymous.get(url)).status, 200, url);
    }
  });

  it("hides another project's floating IP: 404 on show, update, delete, tags; absent from lists", async () => {
    const url = `/v2.0/floatingips/${String(aliceFip.id)}`;
    const before = await f.latestChange();
    for (const reply of [
      await bob.caller.get(url),
      await bob.caller.put(url, { floatingip: { port_id: null } }),
      await bob.caller.delete(url),
      await bob.caller.put(`${url}/tags`, { tags: ['mine'] }),
      await bob.caller.get(`${url}/tags`),
    ]) {
      assert.equal(reply.status, 404);
      assert.equal(errorOf(reply).type, 'FloatingIPNotFound');
    }
    assert.equal(await f.latestChange(), before);
    const listed = (await bob.caller.get('/v2.0/floatingips')).body.floatingips as Json[];
    assert.ok(listed.every((o) => o.project_id === 'bob'));
    const filtered = await bob.caller.get(`/v2.0/floatingips?project_id=alice`);
    assert.deepEqual(filtered.body.floatingips, []);
    const byAddress = await bob.caller.get(
      `/v2.0/floatingips?floating_ip_address=${String(aliceFip.floating_ip_address)}`,
    );
    assert.deepEqual(byAddress.body.floatingips, []);
    const asMarker = await bob.caller.get(`/v2.0/floatingips?limit=1&marker=${String(aliceFip.id)}`);
    assert.equal(asMarker.status, 404);
  });

  it("cannot use another project's port, router or subnet", async () => {
    const before = await f.latestChange();
    const withPort = await bob.caller.post('/v2.0/floatingips', {
      floatingip: { floating_network_id: f.externalNetworkId, port_id: alice.ports.vm2.id },
    });
    assert.equal(withPort.status, 404);
    assert.equal(errorOf(withPort).type, 'PortNotFound');
    const iface = await bob.caller.put(`/v2.0/routers/${alice.routerId}/add_router_interface`, {
      subnet_id: bob.subnetId,
    });
    assert.equal(iface.status, 404);
    assert.equal(errorOf(iface).type, 'RouterNotFound');
    const subnet = await bob.caller.get(`/v2.0/subnets/${alice.subnetId}`);
    assert.equal(subnet.status, 404);
    assert.equal(await f.latestChange(), before);
  });

  it('lets the admin see and change every project', async () => {
    const listed = (await f.admin.get('/v2.0/floatingips')).body.floatingips as Json[];
    assert.ok(listed.some((o) => o.project_id === 'alice'));
    const own = (await f.admin.get('/v2.0/floatingips?project_id=alice')).body.floatingips as Json[];
    assert.ok(own.length > 0 && own.every((o) => o.project_id === 'alice'));
    const updated = await f.admin.put(`/v2.0/floatingips/${String(aliceFip.id)}`, {
      floatingip: { description: 'by admin' },
    });
    assert.equal(updated.status, 200);
    const created = await f.admin.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
      project_id: 'bob',
    });
    assert.equal(created.project_id, 'bob');
    assert.ok(
      ((await bob.caller.get('/v2.0/floatingips')).body.floatingips as Json[]).some(
        (o) => o.id === created.id,
      ),
    );
  });

  it('reserves floating_ip_address, external networks and router placement for the admin (403)', async () => {
    const before = await f.latestChange();
    const cases: [Promise<{ status: number; body: Json }>, RegExp][] = [
      [
        alice.caller.post('/v2.0/floatingips', {
          floatingip: { floating_network_id: f.externalNetworkId, floating_ip_address: '203.0.113.99' },
        }),
        /floating_ip_address/,
      ],
      [
        alice.caller.post('/v2.0/networks', { network: { name: 'x', 'router:external': true } }),
        /external network/,
      ],
      [
        alice.caller.put(`/v2.0/networks/${alice.networkId}`, { network: { 'router:external': true } }),
        /router:external/,
      ],
      [
        alice.caller.put(`/v2.0/routers/${alice.routerId}`, { router: { namespace: 'bob-router' } }),
        /namespace/,
      ],
      [
        alice.caller.put(`/v2.0/routers/${alice.routerId}`, { router: { anti_spoofing: false } }),
        /anti_spoofing/,
      ],
      [alice.caller.put(`/v2.0/routers/${alice.routerId}`, { router: { fast_path: false } }), /fast_path/],
      [
        alice.caller.post('/v2.0/ports', {
          port: {
            network_id: alice.networkId,
            device_owner: 'network:router_interface',
            device_id: bob.routerId,
          },
        }),
        /network:router_interface/,
      ],
      [
        alice.caller.post('/v2.0/ports', { port: { network_id: f.externalNetworkId } }),
        /not allowed to create a port/,
      ],
    ];
    for (const [pending, message] of cases) {
      const reply = await pending;
      assert.equal(reply.status, 403, JSON.stringify(reply.body));
      assert.equal(errorOf(reply).type, 'PolicyNotAuthorized');
      assert.match(String(errorOf(reply).message), message);
    }
    assert.equal(await f.latestChange(), before);
    const chosen = await f.admin.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
      floating_ip_address: '203.0.113.99',
    });
    assert.equal(chosen.floating_ip_address, '203.0.113.99');
  });

  it('shows external networks to every project, but only the admin may change them (403, not 404)', async () => {
    const shown = await alice.caller.get(`/v2.0/networks/${f.externalNetworkId}`);
    assert.equal(shown.status, 200);
    const byName = await alice.caller.get('/v2.0/networks?name=public');
    assert.deepEqual(
      (byName.body.networks as Json[]).map((n) => n.id),
      [f.externalNetworkId],
    );
    const renamed = await alice.caller.put(`/v2.0/networks/${f.externalNetworkId}`, {
      network: { name: 'mine' },
    });
    assert.equal(renamed.status, 403);
    assert.equal(errorOf(renamed).type, 'PolicyNotAuthorized');
    const deleted = await alice.caller.delete(`/v2.0/networks/${f.externalNetworkId}`);
    assert.equal(deleted.status, 403);
    const bobsNetwork = await alice.caller.get(`/v2.0/networks/${bob.networkId}`);
    assert.equal(bobsNetwork.status, 404);
  });

  it('stops accepting a token as soon as it is revoked', async () => {
    const { token, record } = await issueToken(f.store.tokens, { projectId: 'carol', isAdmin: false });
    const carol = new Caller(f.app, token);
    assert.equal((await carol.get('/v2.0/floatingips')).status, 200);
    await f.store.tokens.revokeToken(record.id);
    assert.equal((await carol.get('/v2.0/floatingips')).status, 401);
  });
});

describe('no-auth mode (development)', () => {
  it('treats every caller as admin of the default project', async () => {
    const f = await apiFixture({ auth: 'none' });
    try {
      const created = await f.anonymous.create('floatingips', 'floatingip', {
        floating_network_id: f.externalNetworkId,
        floating_ip_address: '203.0.113.50',
      });
      assert.equal(created.project_id, 'default');
    } finally {
      await f.close();
    }
  });

  it('is refused unless the server listens on loopback', async () => {
    const log = pino({ level: 'silent' });
    await assert.rejects(
      serve({
        host: '0.0.0.0',
        port: 0,
        stateDir: '/nonexistent-ta-never-created',
        backend: 'fake',
        resyncIntervalMs: 10_000,
        garp: false,
        agent: false,
        auth: 'none',
        log,
      }),
      /Refusing to run without authentication on 0\.0\.0\.0/,
    );
  });
});
