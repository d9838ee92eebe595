import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setFloatingIpStatus } from '../../src/model/index.js';
import { apiFixture, fixedIpOf, type ApiFixture, type Json, type Project } from './fixture.js';

describe('floating IPs behave as in Neutron', () => {
  let f: ApiFixture;
  let alice: Project;

  before(async () => {
    f = await apiFixture();
    alice = await f.project('alice', '10.1.0.0/24');
  });
  after(() => f.close());

  const fip = (reply: { body: Json }) => reply.body.floatingip as Json;

  it('allocates from the pool, DOWN and unassociated, with standard attributes', async () => {
    const reply = await alice.caller.post('/v2.0/floatingips', {
      floatingip: { floating_network_id: f.externalNetworkId, description: 'web', tags: ['a', 'b'] },
    });
    assert.equal(reply.status, 201);
    const created = fip(reply);
    assert.match(String(created.id), /^[0-9a-f-]{36}$/);
    // .10 went to alice's router gateway: the pool's next free address is next.
    assert.equal(created.floating_ip_address, '203.0.113.11');
    assert.equal(created.floating_network_id, f.externalNetworkId);
    assert.equal(created.status, 'DOWN');
    assert.equal(created.port_id, null);
    assert.equal(created.fixed_ip_address, null);
    assert.equal(created.router_id, null);
    assert.equal(created.port_details, null);
    assert.equal(created.project_id, 'alice');
    assert.equal(created.tenant_id, 'alice');
    assert.equal(created.description, 'web');
    assert.deepEqual(created.tags, ['a', 'b']);
    assert.equal(created.revision_number, 0);
    assert.match(String(created.created_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(created.updated_at, created.created_at);
    const shown = await alice.caller.get(`/v2.0/floatingips/${String(created.id)}`);
    assert.deepEqual(fip(shown), created);
  });

  it('associates at creation with port_id, deriving the router and filling port_details', async () => {
    const created = await alice.caller.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
      port_id: alice.ports.vm1.id,
    });
    assert.equal(created.port_id, alice.ports.vm1.id);
    assert.equal(created.fixed_ip_address, fixedIpOf(alice.ports.vm1));
    assert.equal(created.router_id, alice.routerId);
    const details = created.port_details as Json;
    assert.equal(details.network_id, alice.networkId);
    assert.equal(details.name, 'alice-vm1');
    assert.equal(details.mac_address, alice.ports.vm1.mac_address);
  });

  it('refuses a second floating IP for the same fixed IP with FloatingIPPortAlreadyAssociated (409)', async () => {
    const before = await f.latestChange();
    const reply = await alice.caller.post('/v2.0/floatingips', {
      floatingip: { floating_network_id: f.externalNetworkId, port_id: alice.ports.vm1.id },
    });
    assert.equal(reply.status, 409);
    assert.equal((reply.body.NeutronError as Json).type, 'FloatingIPPortAlreadyAssociated');
    assert.equal(await f.latestChange(), before);
  });

  it('needs fixed_ip_address for a port with several fixed IPs, and takes the one given', async () => {
    const ambiguous = await alice.caller.post('/v2.0/floatingips', {
      floatingip: { floating_network_id: f.externalNetworkId, port_id: alice.ports.vm2.id },
    });
    assert.equal(ambiguous.status, 400);
    assert.equal((ambiguous.body.NeutronError as Json).type, 'BadRequest');
    const second = fixedIpOf(alice.ports.vm2, 1);
    const created = await alice.caller.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
      port_id: alice.ports.vm2.id,
      fixed_ip_address: second,
    });
    assert.equal(created.fixed_ip_address, second);
    const wrong = await alice.caller.post('/v2.0/floatingips', {
      floatingip: {
        floating_network_id: f.externalNetworkId,
        port_id: alice.ports.vm2.id,
        fixed_ip_address: '10.1.0.250',
      },
    });
    assert.equal(wrong.status, 400);
    assert.match(String((wrong.body.NeutronError as Json).message), /10\.1\.0\.250/);
  });

  it('answers ExternalGatewayForFloatingIPNotFound (404) when no router joins the port to the network', async () => {
    const lonely = await alice.caller.create('networks', 'network', { name: 'lonely' });
    const subnet = await alice.caller.create('subnets', 'subnet', {
      network_id: lonely.id,
      cidr: '10.9.0.0/24',
    });
    const port = await alice.caller.create('ports', 'port', { network_id: lonely.id });
    const reply = await alice.caller.post('/v2.0/floatingips', {
      floatingip: { floating_network_id: f.externalNetworkId, port_id: port.id },
    });
    assert.equal(reply.status, 404);
    assert.equal((reply.body.NeutronError as Json).type, 'ExternalGatewayForFloatingIPNotFound');
    assert.match(String((reply.body.NeutronError as Json).message), new RegExp(String(subnet.id)));
  });

  it('refuses a network that is not external, and a missing one', async () => {
    const internal = await alice.caller.post('/v2.0/floatingips', {
      floatingip: { floating_network_id: alice.networkId },
    });
    assert.equal(internal.status, 400);
    assert.match(String((internal.body.NeutronError as Json).message), /is not a valid external network/);
    const missing = await alice.caller.post('/v2.0/floatingips', {
      floatingip: { floating_network_id: '00000000-0000-4000-8000-000000000000' },
    });
    assert.equal(missing.status, 404);
    assert.equal((missing.body.NeutronError as Json).type, 'NetworkNotFound');
  });

  it('updates port_id and fixed_ip_address, moves, and disassociates with port_id null', async () => {
    const created = await alice.caller.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
    });
    const url = `/v2.0/floatingips/${String(created.id)}`;
    const first = fixedIpOf(alice.ports.vm2, 0);
    const associated = await alice.caller.put(url, {
      floatingip: { port_id: alice.ports.vm2.id, fixed_ip_address: first },
    });
    assert.equal(associated.status, 200);
    assert.equal(fip(associated).fixed_ip_address, first);
    assert.equal(fip(associated).router_id, alice.routerId);
    assert.equal(fip(associated).revision_number, 1);
    assert.equal(fip(associated).status, 'DOWN');
    const cleared = await alice.caller.put(url, { floatingip: { port_id: null } });
    assert.equal(cleared.status, 200);
    assert.equal(fip(cleared).port_id, null);
    assert.equal(fip(cleared).fixed_ip_address, null);
    assert.equal(fip(cleared).router_id, null);
    assert.equal(fip(cleared).port_details, null);
    assert.equal(fip(cleared).revision_number, 2);
    const described = await alice.caller.put(url, { floatingip: { description: 'spare' } });
    assert.equal(fip(described).description, 'spare');
    assert.equal(fip(described).floating_ip_address, created.floating_ip_address);
  });

  it('honours If-Match: revision_number=N with 412 on a mismatch, changing nothing', async () => {
    const created = await alice.caller.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
    });
    const url = `/v2.0/floatingips/${String(created.id)}`;
    const stale = await alice.caller.put(
      url,
      { floatingip: { description: 'x' } },
      { 'if-match': 'revision_number=7' },
    );
    assert.equal(stale.status, 412);
    assert.equal((stale.body.NeutronError as Json).type, 'RevisionNumberConstraintFailed');
    const fresh = await alice.caller.put(
      url,
      { floatingip: { description: 'x' } },
      { 'if-match': 'revision_number=0' },
    );
    assert.equal(fresh.status, 200);
    assert.equal(fip(fresh).revision_number, 1);
    const staleDelete = await alice.caller.delete(url, { 'if-match': 'revision_number=0' });
    assert.equal(staleDelete.status, 412);
    assert.equal((await alice.caller.get(url)).status, 200);
    assert.equal((await alice.caller.delete(url, { 'if-match': 'revision_number=1' })).status, 204);
  });

  it('deletes with 204, after which the floating IP is FloatingIPNotFound and its address is free again', async () => {
    const created = await f.admin.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
      floating_ip_address: '203.0.113.150',
    });
    const url = `/v2.0/floatingips/${String(created.id)}`;
    assert.equal((await f.admin.delete(url)).status, 204);
    const gone = await f.admin.get(url);
    assert.equal(gone.status, 404);
    assert.equal((gone.body.NeutronError as Json).type, 'FloatingIPNotFound');
    assert.equal((await f.admin.delete(url)).status, 404);
    const again = await f.admin.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
      floating_ip_address: '203.0.113.150',
    });
    assert.equal(again.floating_ip_address, '203.0.113.150');
    const taken = await f.admin.post('/v2.0/floatingips', {
      floatingip: { floating_network_id: f.externalNetworkId, floating_ip_address: '203.0.113.150' },
    });
    assert.equal(taken.status, 409);
    assert.equal((taken.body.NeutronError as Json).type, 'IpAddressAlreadyAllocated');
  });

  it('reports ACTIVE once the agent has recorded that the dataplane carries it', async () => {
    const created = await alice.caller.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
    });
    const url = `/v2.0/floatingips/${String(created.id)}`;
    const put = await alice.caller.put(url, {
      floatingip: { port_id: alice.ports.vm2.id, fixed_ip_address: fixedIpOf(alice.ports.vm2, 0) },
    });
    assert.equal(fip(put).status, 'DOWN');
    const agentCtx = { projectId: '', isAdmin: true, now: () => new Date().toISOString(), newId: () => 'x' };
    await f.store.update((tx) =>
      setFloatingIpStatus(
        tx,
        agentCtx,
        String(created.id),
        { routerId: alice.routerId, fixedIpAddress: fixedIpOf(alice.ports.vm2, 0) },
        'ACTIVE',
        '',
      ),
    );
    assert.equal(fip(await alice.caller.get(url)).status, 'ACTIVE');
    // A new association is DOWN again until the agent catches up.
    const moved = await alice.caller.put(url, { floatingip: { port_id: null } });
    assert.equal(fip(moved).status, 'DOWN');
  });

  it('manages tags through the sub-resource, bumping revision_number', async () => {
    const created = await alice.caller.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
    });
    const base = `/v2.0/floatingips/${String(created.id)}/tags`;
    const replaced = await alice.caller.put(base, { tags: ['red', 'green', 'red'] });
    assert.equal(replaced.status, 200);
    assert.deepEqual(replaced.body.tags, ['red', 'green']);
    assert.equal((await alice.caller.call('PUT', `${base}/blue`)).status, 201);
    assert.equal((await alice.caller.call('GET', `${base}/blue`)).status, 204);
    const missing = await alice.caller.call('GET', `${base}/purple`);
    assert.equal(missing.status, 404);
    assert.equal((missing.body.NeutronError as Json).type, 'TagNotFound');
    assert.equal((await alice.caller.delete(`${base}/red`)).status, 204);
    assert.deepEqual((await alice.caller.get(base)).body.tags, ['green', 'blue']);
    const shown = fip(await alice.caller.get(`/v2.0/floatingips/${String(created.id)}`));
    assert.equal(shown.revision_number, 3);
    const bad = await alice.caller.put(base, { tags: ['a,b'] });
    assert.equal(bad.status, 400);
    assert.equal((await alice.caller.delete(base)).status, 204);
    assert.deepEqual((await alice.caller.get(base)).body.tags, []);
  });

  it('refuses to remove a router interface a floating IP needs (RouterInterfaceInUseByFloatingIP)', async () => {
    const reply = await alice.caller.put(`/v2.0/routers/${alice.routerId}/remove_router_interface`, {
      subnet_id: alice.subnetId,
    });
    assert.equal(reply.status, 409);
    assert.equal((reply.body.NeutronError as Json).type, 'RouterInterfaceInUseByFloatingIP');
  });
});
