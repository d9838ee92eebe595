import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiFixture, type ApiFixture, type Json, type Project } from './fixture.js';

/** Raw requests as the openstack CLI sends them: Content-Type: application/json on a DELETE with no body. */
describe('Neutron parity: DELETE with an empty JSON body', () => {
  let f: ApiFixture;
  let alice: Project;

  before(async () => {
    f = await apiFixture();
    alice = await f.project('alice', '10.1.0.0/24');
  });
  after(() => f.close());

  const rawDelete = async (url: string, payload?: string) => {
    const response = await f.app.inject({
      method: 'DELETE',
      url,
      headers: { 'x-auth-token': alice.caller.token ?? '', 'content-type': 'application/json' },
      ...(payload !== undefined && { payload }),
    });
    return { status: response.statusCode, body: response.body };
  };

  it('deletes a resource, a tag and a port forwarding, and refuses malformed non-empty bodies', async () => {
    const fip = await alice.caller.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
    });
    const tagged = await alice.caller.put(`/v2.0/floatingips/${String(fip.id)}/tags/blue`, undefined);
    assert.equal(tagged.status, 201, JSON.stringify(tagged.body));
    const untag = await rawDelete(`/v2.0/floatingips/${String(fip.id)}/tags/blue`, '');
    assert.equal(untag.status, 204, untag.body);
    const tags = await alice.caller.get(`/v2.0/floatingips/${String(fip.id)}/tags`);
    assert.deepEqual(tags.body.tags, []);

    const pf = await alice.caller.create(
      `floatingips/${String(fip.id)}/port_forwardings`,
      'port_forwarding',
      {
        internal_port_id: alice.ports.vm1.id,
        internal_ip_address: ((alice.ports.vm1.fixed_ips as Json[])[0] as Json).ip_address,
        protocol: 'udp',
        internal_port: 53,
        external_port: 5353,
      },
    );
    const pfGone = await rawDelete(`/v2.0/floatingips/${String(fip.id)}/port_forwardings/${String(pf.id)}`);
    assert.equal(pfGone.status, 204, pfGone.body);

    const malformed = await rawDelete(`/v2.0/floatingips/${String(fip.id)}`, '{"x":');
    assert.equal(malformed.status, 400);
    assert.match(malformed.body, /MalformedRequestBody/);
    assert.equal((await alice.caller.get(`/v2.0/floatingips/${String(fip.id)}`)).status, 200);

    const gone = await rawDelete(`/v2.0/floatingips/${String(fip.id)}`, '');
    assert.equal(gone.status, 204, gone.body);
    assert.equal((await alice.caller.get(`/v2.0/floatingips/${String(fip.id)}`)).status, 404);

    const port = await alice.caller.create('ports', 'port', { network_id: alice.networkId });
    assert.equal((await rawDelete(`/v2.0/ports/${String(port.id)}`, '   ')).status, 204);
  });

  it('a project quota reset by an admin takes an empty JSON body too', async () => {
    const response = await f.app.inject({
      method: 'DELETE',
      url: `/v2.0/quotas/${await projectIdOf(alice)}`,
      headers: { 'x-auth-token': f.admin.token ?? '', 'content-type': 'application/json' },
      payload: '',
    });
    assert.equal(response.statusCode, 204, response.body);
  });
});

async function projectIdOf(project: Project): Promise<string> {
  const network = await project.caller.get(`/v2.0/networks/${project.networkId}`);
  return String((network.body.network as Json).project_id);
}

describe('Neutron parity: GET /v2.0/floatingip_pools (floatingip-pools)', () => {
  let f: ApiFixture;
  let alice: Project;
  let bob: Project;

  before(async () => {
    f = await apiFixture();
    alice = await f.project('alice', '10.1.0.0/24');
    bob = await f.project('bob', '10.2.0.0/24');
  });
  after(() => f.close());

  it('lists one pool per external subnet, the same for every project, and no private subnet', async () => {
    const external = await f.admin.get(`/v2.0/subnets/${f.externalSubnetId}`);
    const subnet = external.body.subnet as Json;
    const network = (await f.admin.get(`/v2.0/networks/${f.externalNetworkId}`)).body.network as Json;
    const expected = [
      {
        subnet_id: f.externalSubnetId,
        subnet_name: subnet.name,
        cidr: subnet.cidr,
        network_id: f.externalNetworkId,
        project_id: network.project_id,
      },
    ];
    for (const caller of [alice.caller, bob.caller, f.admin]) {
      const reply = await caller.get('/v2.0/floatingip_pools');
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      assert.deepEqual(reply.body.floatingip_pools, expected);
    }
    const pools = (await alice.caller.get('/v2.0/floatingip_pools')).body.floatingip_pools as Json[];
    assert.ok(!pools.some((p) => p.subnet_id === alice.subnetId || p.subnet_id === bob.subnetId));
  });

  it('filters and trims fields like the other lists, refuses unknown filters, and needs a token', async () => {
    const byCidr = await alice.caller.get('/v2.0/floatingip_pools?cidr=203.0.113.0/24&fields=subnet_id');
    assert.deepEqual(byCidr.body.floatingip_pools, [{ subnet_id: f.externalSubnetId }]);
    const none = await alice.caller.get('/v2.0/floatingip_pools?network_id=' + alice.networkId);
    assert.deepEqual(none.body.floatingip_pools, []);
    const bad = await alice.caller.get('/v2.0/floatingip_pools?colour=red');
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /colour/);
    assert.equal((await f.anonymous.get('/v2.0/floatingip_pools')).status, 401);
    const extension = await alice.caller.get('/v2.0/extensions/floatingip-pools');
    assert.equal((extension.body.extension as Json).alias, 'floatingip-pools');
  });
});
