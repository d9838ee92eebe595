import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { routerIntent } from '../../src/dataplane/index.js';
import { interfacePorts } from '../../src/model/index.js';
import { apiFixture, fixedIpOf, type ApiFixture, type Json, type Project, type Reply } from './fixture.js';

const errorOf = (reply: Reply) => reply.body.NeutronError as { type: string; message: string };

/**
 * A foreign id must be answered exactly as an unknown one (status, type, and message but for the id itself):
 * otherwise the difference tells a project that another project's resource exists.
 */
function assertSameAsUnknown(
  foreign: Reply,
  unknown: Reply,
  foreignId: string,
  unknownId: string,
  what: string,
) {
  assert.ok(foreign.status >= 400, `${what}: ${foreign.status} ${JSON.stringify(foreign.body)}`);
  assert.equal(foreign.status, unknown.status, `${what}: status`);
  assert.equal(errorOf(foreign).type, errorOf(unknown).type, `${what}: type`);
  assert.equal(
    errorOf(foreign).message.replaceAll(foreignId, 'ID'),
    errorOf(unknown).message.replaceAll(unknownId, 'ID'),
    `${what}: message`,
  );
}

describe('tenant isolation: a hostile project cannot graft onto, or probe, another project', () => {
  let f: ApiFixture;
  let alpha: Project;
  let beta: Project;
  let betaInterface: Json;

  before(async () => {
    f = await apiFixture();
    alpha = await f.project('alpha', '10.1.0.0/24');
    beta = await f.project('beta', '10.2.0.0/24');
    const listed = await beta.caller.get(`/v2.0/ports?device_id=${beta.routerId}`);
    betaInterface = (listed.body.ports as Json[]).find((p) => p.device_owner === 'network:router_interface')!;
    assert.ok(betaInterface, 'beta has a router interface port');
  });
  after(() => f.close());

  it('refuses the graft of issue 14: device_id of a router interface, 403 naming device_id, store unchanged', async () => {
    const before = await f.latestChange();
    const graft = await beta.caller.put(`/v2.0/ports/${String(betaInterface.id)}`, {
      port: { device_id: alpha.routerId },
    });
    assert.equal(graft.status, 403);
    assert.equal(errorOf(graft).type, 'PolicyNotAuthorized');
    assert.match(errorOf(graft).message, /device_id/);
    const unowned = await beta.caller.put(`/v2.0/ports/${String(betaInterface.id)}`, {
      port: { device_owner: '' },
    });
    assert.equal(unowned.status, 403);
    assert.match(errorOf(unowned).message, /device_owner/);
    assert.equal(await f.latestChange(), before, 'nothing written');
    // Beta's next floating IP goes through beta's router, and alpha's router holds nothing of beta's.
    const fip = await beta.caller.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
      port_id: beta.ports.vm1.id,
    });
    assert.equal(fip.router_id, beta.routerId);
    const intent = await f.store.read((v) => routerIntent(v, v.get('router', alpha.routerId)!));
    assert.deepEqual(
      intent.floatingIps.map((x) => x.projectId).filter((p) => p !== 'alpha'),
      [],
    );
  });

  it('refuses a port owned by network:* to a project, 403 naming device_owner, whatever device_id says', async () => {
    const before = await f.latestChange();
    for (const owner of ['network:router_interface', 'network:router_gateway', 'network:dhcp']) {
      const reply = await beta.caller.post('/v2.0/ports', {
        port: { network_id: beta.networkId, device_owner: owner, device_id: alpha.routerId },
      });
      assert.equal(reply.status, 403, owner);
      assert.equal(errorOf(reply).type, 'PolicyNotAuthorized');
      assert.match(errorOf(reply).message, /device_owner/);
    }
    // Nor may a plain port become one afterwards.
    const vm = beta.ports.vm1.id as string;
    const reply = await beta.caller.put(`/v2.0/ports/${vm}`, {
      port: { device_owner: 'network:router_interface', device_id: alpha.routerId },
    });
    assert.equal(reply.status, 403);
    assert.match(errorOf(reply).message, /device_owner/);
    assert.equal(await f.latestChange(), before);
  });

  it("device_id: a project's own port naming another router's id joins nothing", async () => {
    const port = await beta.caller.create('ports', 'port', {
      network_id: beta.networkId,
      device_id: alpha.routerId,
      device_owner: 'compute:nova',
    });
    const interfaces = await f.store.read((v) => interfacePorts(v, v.get('router', alpha.routerId)!));
    assert.deepEqual(
      interfaces.map((p) => p.projectId),
      ['alpha'],
    );
    // Alpha does not see it under its router either.
    const listed = await alpha.caller.get(`/v2.0/ports?device_id=${alpha.routerId}`);
    assert.ok(!(listed.body.ports as Json[]).some((p) => p.id === port.id));
    assert.equal((await beta.caller.delete(`/v2.0/ports/${String(port.id)}`)).status, 204);
  });

  it("a port an admin placed on another project's network does not let its project attach that network", async () => {
    const placed = await f.admin.create('ports', 'port', { network_id: alpha.networkId, project_id: 'beta' });
    const before = await f.latestChange();
    const reply = await beta.caller.put(`/v2.0/routers/${beta.routerId}/add_router_interface`, {
      port_id: placed.id,
    });
    assert.equal(reply.status, 404);
    assert.equal(errorOf(reply).type, 'SubnetNotFound');
    assert.equal(await f.latestChange(), before);
    assert.equal((await f.admin.delete(`/v2.0/ports/${String(placed.id)}`)).status, 204);
  });

  it('an admin may re-point a router interface, and the model records that an admin did', async () => {
    const port = await alpha.caller.create('ports', 'port', { network_id: alpha.networkId });
    const moved = await f.admin.put(`/v2.0/ports/${String(port.id)}`, {
      port: { device_owner: 'compute:nova', device_id: 'vm-1' },
    });
    assert.equal(moved.status, 200);
    const stored = await f.store.read((v) => v.get('port', port.id as string)!);
    assert.equal(stored.adminAttached, true);
    assert.equal((await alpha.caller.delete(`/v2.0/ports/${String(port.id)}`)).status, 204);
  });

  describe('every cross-project reference is 404 exactly as an unknown id', () => {
    const unknown = () => randomUUID();

    it('network_id: ports, subnets, floating IPs and router gateways', async () => {
      // A router without floating IPs, so that changing its gateway gets as far as looking the network up.
      const spare = await beta.caller.create('routers', 'router', { name: 'spare' });
      const before = await f.latestChange();
      const u = unknown();
      const cases: [string, (id: string) => Promise<Reply>][] = [
        ['port network_id', (id) => beta.caller.post('/v2.0/ports', { port: { network_id: id } })],
        [
          'subnet network_id',
          (id) => beta.caller.post('/v2.0/subnets', { subnet: { network_id: id, cidr: '10.9.0.0/24' } }),
        ],
        [
          'floating_network_id',
          (id) => beta.caller.post('/v2.0/floatingips', { floatingip: { floating_network_id: id } }),
        ],
        [
          'router create external_gateway_info.network_id',
          (id) =>
            beta.caller.post('/v2.0/routers', { router: { external_gateway_info: { network_id: id } } }),
        ],
        [
          'router update external_gateway_info.network_id',
          (id) =>
            beta.caller.put(`/v2.0/routers/${String(spare.id)}`, {
              router: { external_gateway_info: { network_id: id } },
            }),
        ],
      ];
      for (const [what, call] of cases) {
        const foreign = await call(alpha.networkId);
        assert.equal(foreign.status, 404, what);
        assertSameAsUnknown(foreign, await call(u), alpha.networkId, u, what);
      }
      assert.equal(await f.latestChange(), before);
    });

    it('subnet_id: fixed IPs of a port, a floating IP, add_router_interface', async () => {
      const before = await f.latestChange();
      const u = unknown();
      const cases: [string, (id: string) => Promise<Reply>][] = [
        [
          'port fixed_ips.subnet_id',
          (id) =>
            beta.caller.post('/v2.0/ports', {
              port: { network_id: beta.networkId, fixed_ips: [{ subnet_id: id }] },
            }),
        ],
        [
          'floating IP subnet_id',
          (id) =>
            beta.caller.post('/v2.0/floatingips', {
              floatingip: { floating_network_id: f.externalNetworkId, subnet_id: id },
            }),
        ],
        [
          'add_router_interface subnet_id',
          (id) => beta.caller.put(`/v2.0/routers/${beta.routerId}/add_router_interface`, { subnet_id: id }),
        ],
        [
          'remove_router_interface subnet_id',
          (id) =>
            beta.caller.put(`/v2.0/routers/${beta.routerId}/remove_router_interface`, { subnet_id: id }),
        ],
      ];
      for (const [what, call] of cases) {
        const foreign = await call(alpha.subnetId);
        assert.equal(foreign.status, 404, what);
        assertSameAsUnknown(foreign, await call(u), alpha.subnetId, u, what);
      }
      assert.equal(await f.latestChange(), before);
    });

    it('port_id: floating IP create and update, add and remove_router_interface', async () => {
      const betaFip = await beta.caller.create('floatingips', 'floatingip', {
        floating_network_id: f.externalNetworkId,
      });
      const before = await f.latestChange();
      const u = unknown();
      const alphaVm = alpha.ports.vm1.id as string;
      const cases: [string, (id: string) => Promise<Reply>][] = [
        [
          'floating IP create port_id',
          (id) =>
            beta.caller.post('/v2.0/floatingips', {
              floatingip: { floating_network_id: f.externalNetworkId, port_id: id },
            }),
        ],
        [
          'floating IP update port_id',
          (id) => beta.caller.put(`/v2.0/floatingips/${String(betaFip.id)}`, { floatingip: { port_id: id } }),
        ],
        [
          'add_router_interface port_id',
          (id) => beta.caller.put(`/v2.0/routers/${beta.routerId}/add_router_interface`, { port_id: id }),
        ],
        [
          'remove_router_interface port_id',
          (id) => beta.caller.put(`/v2.0/routers/${beta.routerId}/remove_router_interface`, { port_id: id }),
        ],
      ];
      for (const [what, call] of cases) {
        const foreign = await call(alphaVm);
        assert.equal(foreign.status, 404, what);
        assertSameAsUnknown(foreign, await call(u), alphaVm, u, what);
      }
      assert.equal(await f.latestChange(), before);
    });

    it("router_id: another project's router is unknown to every router action; floating IPs cannot name one", async () => {
      const betaFip = await beta.caller.create('floatingips', 'floatingip', {
        floating_network_id: f.externalNetworkId,
      });
      const before = await f.latestChange();
      const u = unknown();
      const cases: [string, (id: string) => Promise<Reply>][] = [
        ['show router', (id) => beta.caller.get(`/v2.0/routers/${id}`)],
        ['update router', (id) => beta.caller.put(`/v2.0/routers/${id}`, { router: { name: 'mine' } })],
        ['delete router', (id) => beta.caller.delete(`/v2.0/routers/${id}`)],
        [
          'add_router_interface to it',
          (id) => beta.caller.put(`/v2.0/routers/${id}/add_router_interface`, { subnet_id: beta.subnetId }),
        ],
        [
          'remove_router_interface from it',
          (id) =>
            beta.caller.put(`/v2.0/routers/${id}/remove_router_interface`, { subnet_id: alpha.subnetId }),
        ],
        [
          'floating IP create router_id',
          (id) =>
            beta.caller.post('/v2.0/floatingips', {
              floatingip: { floating_network_id: f.externalNetworkId, router_id: id },
            }),
        ],
        [
          'floating IP update router_id',
          (id) =>
            beta.caller.put(`/v2.0/floatingips/${String(betaFip.id)}`, { floatingip: { router_id: id } }),
        ],
      ];
      for (const [what, call] of cases) {
        assertSameAsUnknown(await call(alpha.routerId), await call(u), alpha.routerId, u, what);
      }
      const listed = await beta.caller.get(`/v2.0/floatingips?router_id=${alpha.routerId}`);
      assert.deepEqual(listed.body.floatingips, []);
      assert.equal(await f.latestChange(), before);
    });

    it("fixed_ip_address: another project's address is answered as any address the port does not hold", async () => {
      const before = await f.latestChange();
      const alphaIp = fixedIpOf(alpha.ports.vm1);
      const free = '10.2.0.250';
      const call = (ip: string) =>
        beta.caller.post('/v2.0/floatingips', {
          floatingip: {
            floating_network_id: f.externalNetworkId,
            port_id: beta.ports.vm2.id,
            fixed_ip_address: ip,
          },
        });
      assertSameAsUnknown(await call(alphaIp), await call(free), alphaIp, free, 'fixed_ip_address');
      assert.equal(await f.latestChange(), before);
    });

    it("device_id: filtering ports by another project's router id shows none of that project's ports", async () => {
      const listed = await beta.caller.get(`/v2.0/ports?device_id=${alpha.routerId}`);
      assert.deepEqual(
        (listed.body.ports as Json[]).filter((p) => p.project_id !== 'beta'),
        [],
      );
    });
  });

  it('external networks stay usable by every project (the legitimate exception)', async () => {
    const ext = await beta.caller.get(`/v2.0/networks/${f.externalNetworkId}`);
    assert.equal(ext.status, 200);
    const fip = await beta.caller.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
      subnet_id: f.externalSubnetId,
    });
    assert.equal(fip.floating_network_id, f.externalNetworkId);
    // A subnet of an external network names itself: "does not belong" is no oracle for a public subnet.
    const mismatch = await beta.caller.post('/v2.0/ports', {
      port: { network_id: beta.networkId, fixed_ips: [{ subnet_id: f.externalSubnetId }] },
    });
    assert.equal(mismatch.status, 400);
  });
});
