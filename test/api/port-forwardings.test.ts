import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiFixture, fixedIpOf, type ApiFixture, type Json, type Project } from './fixture.js';

describe('port forwardings on floating IPs (floating-ip-port-forwarding)', () => {
  let f: ApiFixture;
  let alice: Project;
  let bob: Project;
  let fipId: string;

  before(async () => {
    f = await apiFixture();
    alice = await f.project('alice', '10.1.0.0/24');
    bob = await f.project('bob', '10.2.0.0/24');
    fipId = String(
      (await alice.caller.create('floatingips', 'floatingip', { floating_network_id: f.externalNetworkId }))
        .id,
    );
  });
  after(() => f.close());

  const url = () => `/v2.0/floatingips/${fipId}/port_forwardings`;
  const error = (reply: { body: Json }) => reply.body.NeutronError as Json;
  const ssh = () => ({
    internal_port_id: alice.ports.vm1.id,
    internal_ip_address: fixedIpOf(alice.ports.vm1),
    protocol: 'tcp',
    internal_port: 22,
    external_port: 2222,
    description: 'ssh to vm1',
  });

  it('creates, shows, lists and exposes a forwarding in the floating IP, which then has the router', async () => {
    const reply = await alice.caller.post(url(), { port_forwarding: ssh() });
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
    const pf = reply.body.port_forwarding as Json;
    assert.match(String(pf.id), /^[0-9a-f-]{36}$/);
    assert.equal(pf.internal_port, 22);
    assert.equal(pf.external_port, 2222);
    assert.equal(pf.external_port_range, '2222:2222');
    assert.equal(pf.internal_ip_address, fixedIpOf(alice.ports.vm1));
    assert.equal(pf.description, 'ssh to vm1');
    const shown = await alice.caller.get(`${url()}/${String(pf.id)}`);
    assert.deepEqual(shown.body.port_forwarding, pf);
    const listed = await alice.caller.get(`${url()}?protocol=tcp`);
    assert.deepEqual(listed.body.port_forwardings, [pf]);
    assert.deepEqual((await alice.caller.get(`${url()}?protocol=udp`)).body.port_forwardings, []);
    const fip = (await alice.caller.get(`/v2.0/floatingips/${fipId}`)).body.floatingip as Json;
    assert.equal(fip.router_id, alice.routerId);
    assert.equal(fip.port_id, null);
    assert.deepEqual(
      (fip.port_forwardings as Json[]).map((p) => [p.protocol, p.external_port, p.internal_port]),
      [['tcp', 2222, 22]],
    );
  });

  it('takes N:N and N:1 ranges, and ports sent as digit strings', async () => {
    const nn = await alice.caller.create(`floatingips/${fipId}/port_forwardings`, 'port_forwarding', {
      ...ssh(),
      protocol: 'udp',
      internal_port: undefined,
      external_port: undefined,
      internal_port_range: '9000:9099',
      external_port_range: '8000:8099',
    });
    assert.equal(nn.internal_port, null);
    assert.equal(nn.internal_port_range, '9000:9099');
    const n1 = await alice.caller.create(`floatingips/${fipId}/port_forwardings`, 'port_forwarding', {
      ...ssh(),
      internal_ip_address: fixedIpOf(alice.ports.vm2, 0),
      internal_port_id: alice.ports.vm2.id,
      internal_port: '80',
      external_port: undefined,
      external_port_range: '8080:8089',
    });
    assert.equal(n1.internal_port, 80);
    assert.equal(n1.external_port_range, '8080:8089');
  });

  it('updates a forwarding (set) and deletes it; the last one gone releases the router', async () => {
    const other = String(
      (await alice.caller.create('floatingips', 'floatingip', { floating_network_id: f.externalNetworkId }))
        .id,
    );
    const path = `/v2.0/floatingips/${other}/port_forwardings`;
    const pf = await alice.caller.create(`floatingips/${other}/port_forwardings`, 'port_forwarding', {
      ...ssh(),
      internal_port: 23,
      external_port: 23,
    });
    const updated = await alice.caller.put(`${path}/${String(pf.id)}`, {
      port_forwarding: { description: 'telnet', external_port: 2323 },
    });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.equal((updated.body.port_forwarding as Json).external_port, 2323);
    assert.equal((updated.body.port_forwarding as Json).description, 'telnet');
    assert.equal((await alice.caller.delete(`${path}/${String(pf.id)}`)).status, 204);
    assert.equal((await alice.caller.get(`${path}/${String(pf.id)}`)).status, 404);
    const fip = (await alice.caller.get(`/v2.0/floatingips/${other}`)).body.floatingip as Json;
    assert.equal(fip.router_id, null);
    assert.deepEqual(fip.port_forwardings, []);
  });

  const refused = async (body: Json, status: number, type: string, names: RegExp, path = url()) => {
    const before = await f.latestChange();
    const reply = await alice.caller.post(path, { port_forwarding: body });
    assert.equal(reply.status, status, JSON.stringify(reply.body));
    assert.equal(error(reply).type, type);
    assert.match(String(error(reply).message), names);
    assert.equal(await f.latestChange(), before, 'nothing was written');
  };

  it('refuses bad input by name, writing nothing', async () => {
    await refused({ ...ssh(), external_port: 70000 }, 400, 'BadRequest', /70000/);
    await refused(
      { ...ssh(), internal_port: 0, external_port: 3000 },
      400,
      'BadRequest',
      /internal_port.*\b0\b/,
    );
    await refused(
      {
        ...ssh(),
        internal_port: undefined,
        external_port: undefined,
        internal_port_range: '10:20',
        external_port_range: '30:35',
      },
      400,
      'BadRequest',
      /30:35.*10:20/,
    );
    await refused(
      { ...ssh(), external_port: undefined, external_port_range: '40:30' },
      400,
      'BadRequest',
      /40:30/,
    );
    await refused({ ...ssh(), protocol: 'sctp', external_port: 3001 }, 400, 'BadRequest', /'sctp'/);
    await refused(
      { ...ssh(), internal_ip_address: '10.1.0.250', external_port: 3002 },
      400,
      'BadRequest',
      /10\.1\.0\.250/,
    );
    await refused(
      { ...ssh(), internal_ip_address: '10.1.0.010', external_port: 3003 },
      400,
      'InvalidInput',
      /10\.1\.0\.010/,
    );
    // Overlaps an existing external range of this floating IP and protocol.
    await refused({ ...ssh(), internal_port: 24, external_port: 2222 }, 400, 'BadRequest', /2222/);
    await refused(
      {
        ...ssh(),
        protocol: 'udp',
        internal_port: 7,
        external_port: undefined,
        external_port_range: '8050:8150',
      },
      400,
      'BadRequest',
      /8050:8150/,
    );
    // The same internal socket twice: the reverse map would need two answers.
    await refused({ ...ssh(), external_port: 2200 }, 400, 'BadRequest', /22:22\/tcp/);
  });

  it('two forwardings never share an internal socket, across floating IPs too (the reverse map needs one answer)', async () => {
    const other = String(
      (await alice.caller.create('floatingips', 'floatingip', { floating_network_id: f.externalNetworkId }))
        .id,
    );
    const path = `/v2.0/floatingips/${other}/port_forwardings`;
    // vm1:22/tcp is already the target of fipId's 2222.
    await refused({ ...ssh(), external_port: 22 }, 400, 'BadRequest', /10\.1\.0\.\d+:22:22\/tcp/, path);
    // sfip's own rule: vm1 already receives external port 2222/tcp through fipId.
    await refused({ ...ssh(), internal_port: 2022 }, 400, 'BadRequest', /2222:2222\/tcp/, path);
    // The same external port through another floating IP to another address is fine, and so is udp.
    const vm2 = await alice.caller.create(`floatingips/${other}/port_forwardings`, 'port_forwarding', {
      ...ssh(),
      internal_port_id: alice.ports.vm2.id,
      internal_ip_address: fixedIpOf(alice.ports.vm2, 0),
    });
    assert.equal(vm2.external_port, 2222);
    const udp = await alice.caller.create(`floatingips/${other}/port_forwardings`, 'port_forwarding', {
      ...ssh(),
      protocol: 'udp',
      external_port: 22,
    });
    assert.equal(udp.protocol, 'udp');
  });

  it('keeps a floating IP with forwardings off ports, and a floating IP on a port off forwardings', async () => {
    const before = await f.latestChange();
    const associate = await alice.caller.put(`/v2.0/floatingips/${fipId}`, {
      floatingip: { port_id: alice.ports.vm1.id },
    });
    assert.equal(associate.status, 409);
    assert.equal(error(associate).type, 'FipInUseByPortForwarding');
    assert.equal(await f.latestChange(), before);
    const onPort = await alice.caller.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
      port_id: alice.ports.vm1.id,
    });
    await refused(
      { ...ssh(), external_port: 4000, internal_port: 4000 },
      409,
      'FipAssociatedWithPort',
      new RegExp(String(onPort.floating_ip_address)),
      `/v2.0/floatingips/${String(onPort.id)}/port_forwardings`,
    );
  });

  it("keeps projects apart: bob sees no forwarding of alice's and cannot forward to alice's port (404)", async () => {
    const listed = await alice.caller.get(url());
    const pf = (listed.body.port_forwardings as Json[])[0]!;
    for (const reply of [
      await bob.caller.get(url()),
      await bob.caller.get(`${url()}/${String(pf.id)}`),
      await bob.caller.put(`${url()}/${String(pf.id)}`, { port_forwarding: { description: 'x' } }),
      await bob.caller.delete(`${url()}/${String(pf.id)}`),
      await bob.caller.post(url(), { port_forwarding: { ...ssh(), external_port: 5000 } }),
    ]) {
      assert.equal(reply.status, 404);
      assert.equal(error(reply).type, 'FloatingIPNotFound');
    }
    const bobFip = await bob.caller.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
    });
    const before = await f.latestChange();
    const graft = await bob.caller.post(`/v2.0/floatingips/${String(bobFip.id)}/port_forwardings`, {
      port_forwarding: { ...ssh(), external_port: 5001 },
    });
    assert.equal(graft.status, 404);
    assert.equal(error(graft).type, 'PortNotFound');
    assert.equal(await f.latestChange(), before);
    // A subnet attached to no router of this floating network cannot be forwarded to.
    const lonelyNet = await alice.caller.create('networks', 'network', { name: 'lonely' });
    await alice.caller.create('subnets', 'subnet', {
      network_id: lonelyNet.id,
      cidr: '10.9.0.0/24',
      ip_version: 4,
    });
    const lonely = await alice.caller.create('ports', 'port', { network_id: lonelyNet.id });
    await refused(
      { ...ssh(), internal_port_id: lonely.id, internal_ip_address: fixedIpOf(lonely), external_port: 5002 },
      404,
      'ExternalGatewayForFloatingIPNotFound',
      /not reachable/,
    );
  });

  it('deleting the internal port deletes its forwardings; the router interface in use cannot be removed', async () => {
    const detach = await alice.caller.put(`/v2.0/routers/${alice.routerId}/remove_router_interface`, {
      subnet_id: alice.subnetId,
    });
    assert.equal(detach.status, 409);
    assert.equal(error(detach).type, 'RouterInterfaceInUseByFloatingIP');
    const port = await alice.caller.create('ports', 'port', { network_id: alice.networkId });
    await alice.caller.create(`floatingips/${fipId}/port_forwardings`, 'port_forwarding', {
      ...ssh(),
      internal_port_id: port.id,
      internal_ip_address: fixedIpOf(port),
      external_port: 6000,
    });
    const count = async () =>
      ((await alice.caller.get(url())).body.port_forwardings as Json[]).filter(
        (p) => p.internal_port_id === port.id,
      ).length;
    assert.equal(await count(), 1);
    assert.equal((await alice.caller.delete(`/v2.0/ports/${String(port.id)}`)).status, 204);
    assert.equal(await count(), 0);
  });

  it('advertises the extensions', async () => {
    const aliases = ((await alice.caller.get('/v2.0/extensions')).body.extensions as Json[]).map(
      (e) => e.alias,
    );
    for (const alias of [
      'floating-ip-port-forwarding',
      'floating-ip-port-forwarding-port-ranges',
      'floating-ip-port-forwarding-description',
      'expose-port-forwarding-in-fip',
    ]) {
      assert.ok(aliases.includes(alias), alias);
    }
  });
});
