import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildApi } from '../../src/api/index.js';
import { issueToken } from '../../src/auth/index.js';
import { SqliteStore } from '../../src/store/index.js';
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
    const bulk = await alice.caller.get('/v2.0/extensions/sfip-floatingip-bulk-create');
    assert.equal(bulk.status, 200);
  });
});

describe('Neutron parity: native bulk create, all or nothing', () => {
  let f: ApiFixture;
  let alice: Project;
  let bob: Project;

  before(async () => {
    f = await apiFixture();
    alice = await f.project('alice', '10.1.0.0/24');
    bob = await f.project('bob', '10.2.0.0/24');
  });
  after(() => f.close());

  const error = (reply: { body: Json }) => reply.body.NeutronError as Json;

  it('creates networks, subnets, ports and floating IPs in bulk', async () => {
    const nets = await alice.caller.post('/v2.0/networks', { networks: [{ name: 'b1' }, { name: 'b2' }] });
    assert.equal(nets.status, 201, JSON.stringify(nets.body));
    const [n1, n2] = nets.body.networks as Json[];
    assert.deepEqual([n1!.name, n2!.name], ['b1', 'b2']);
    assert.equal((await alice.caller.get(`/v2.0/networks/${String(n2!.id)}`)).status, 200);

    const subnets = await alice.caller.post('/v2.0/subnets', {
      subnets: [
        { network_id: n1!.id, cidr: '10.11.0.0/24', ip_version: 4 },
        { network_id: n2!.id, cidr: '10.12.0.0/24', ip_version: 4 },
      ],
    });
    assert.equal(subnets.status, 201, JSON.stringify(subnets.body));
    assert.deepEqual(
      (subnets.body.subnets as Json[]).map((s) => s.cidr),
      ['10.11.0.0/24', '10.12.0.0/24'],
    );

    const ports = await alice.caller.post('/v2.0/ports', {
      ports: [{ network_id: n1!.id }, { network_id: n1!.id, name: 'second' }],
    });
    assert.equal(ports.status, 201, JSON.stringify(ports.body));
    const created = ports.body.ports as Json[];
    assert.equal(created.length, 2);
    assert.notEqual(
      (created[0]!.fixed_ips as Json[])[0]!.ip_address,
      (created[1]!.fixed_ips as Json[])[0]!.ip_address,
    );

    const fips = await alice.caller.post('/v2.0/floatingips', {
      floatingips: [
        { floating_network_id: f.externalNetworkId },
        { floating_network_id: f.externalNetworkId, port_id: alice.ports.vm1.id },
      ],
    });
    assert.equal(fips.status, 201, JSON.stringify(fips.body));
    const [fip1, fip2] = fips.body.floatingips as Json[];
    assert.notEqual(fip1!.floating_ip_address, fip2!.floating_ip_address);
    assert.equal(fip2!.port_id, alice.ports.vm1.id);
  });

  it('refuses a bad item by index and field, and writes nothing', async () => {
    const before = await f.latestChange();
    const bad = await alice.caller.post('/v2.0/ports', {
      ports: [{ network_id: alice.networkId }, { network_id: alice.networkId, admin_state_up: 'maybe' }],
    });
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assert.match(String(error(bad).message), /port at index 1: .*admin_state_up/);
    const unknown = await alice.caller.post('/v2.0/networks', {
      networks: [{ name: 'ok' }, { colour: 'red' }],
    });
    assert.equal(unknown.status, 400);
    assert.match(String(error(unknown).message), /network at index 1: .*colour/);
    // A model refusal in the middle of the transaction: the first port was written, then rolled back.
    const clash = await alice.caller.post('/v2.0/ports', {
      ports: [
        { network_id: alice.networkId, fixed_ips: [{ ip_address: '10.1.0.200' }] },
        { network_id: alice.networkId, fixed_ips: [{ ip_address: '10.1.0.200' }] },
      ],
    });
    assert.equal(clash.status, 409, JSON.stringify(clash.body));
    assert.match(String(error(clash).message), /port at index 1: /);
    const empty = await alice.caller.post('/v2.0/networks', { networks: [] });
    assert.equal(empty.status, 400);
    const notList = await alice.caller.post('/v2.0/networks', { networks: { name: 'x' } });
    assert.equal(notList.status, 400);
    const tooMany = await alice.caller.post('/v2.0/networks', {
      networks: Array.from({ length: 1001 }, () => ({})),
    });
    assert.equal(tooMany.status, 400);
    assert.match(String(error(tooMany).message), /at most 1000 networks; this request has 1001/);
    const routers = await alice.caller.post('/v2.0/routers', { routers: [{ name: 'r' }] });
    assert.equal(routers.status, 400, 'routers have no bulk create');
    assert.equal(await f.latestChange(), before);
  });

  it("refuses another project's network in any item with 404, writing nothing", async () => {
    const before = await f.latestChange();
    const reply = await bob.caller.post('/v2.0/ports', {
      ports: [{ network_id: bob.networkId }, { network_id: alice.networkId }],
    });
    assert.equal(reply.status, 404, JSON.stringify(reply.body));
    assert.match(String(error(reply).message), new RegExp(`port at index 1: .*${alice.networkId}`));
    const subnet = await bob.caller.post('/v2.0/subnets', {
      subnets: [{ network_id: alice.networkId, cidr: '10.99.0.0/24', ip_version: 4 }],
    });
    assert.equal(subnet.status, 404);
    const fip = await bob.caller.post('/v2.0/floatingips', {
      floatingips: [{ floating_network_id: f.externalNetworkId, port_id: alice.ports.vm2.id }],
    });
    assert.equal(fip.status, 404);
    assert.equal(await f.latestChange(), before);
  });

  it('counts bulk items against the quota inside the transaction: over quota is 409 and changes nothing', async () => {
    const set = await f.admin.put(`/v2.0/quotas/${await projectIdOf(bob)}`, { quota: { network: 3 } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const before = await f.latestChange();
    const over = await bob.caller.post('/v2.0/networks', { networks: [{}, {}, {}] });
    assert.equal(over.status, 409, JSON.stringify(over.body));
    assert.equal(error(over).type, 'OverQuota');
    assert.equal(await f.latestChange(), before);
    const fits = await bob.caller.post('/v2.0/networks', { networks: [{}, {}] });
    assert.equal(fits.status, 201, JSON.stringify(fits.body));
  });
});

describe('Neutron parity: a bulk create passes the per-token rate limit like any request', () => {
  it('is refused with 429 once the token has used its window, writing nothing', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const app = await buildApi({
      store,
      logger: false,
      docs: false,
      rateLimit: { max: 2, windowMs: 60_000 },
    });
    try {
      const { token } = await issueToken(store.tokens, { projectId: 'carol', isAdmin: false });
      const bulk = () =>
        app.inject({
          method: 'POST',
          url: '/v2.0/networks',
          headers: { 'x-auth-token': token },
          payload: { networks: [{ name: 'a' }, { name: 'b' }] },
        });
      assert.equal((await bulk()).statusCode, 201);
      assert.equal((await bulk()).statusCode, 201);
      const limited = await bulk();
      assert.equal(limited.statusCode, 429, limited.body);
      const list = await app.inject({
        method: 'GET',
        url: '/v2.0/networks',
        headers: { 'x-auth-token': token },
      });
      assert.equal(list.statusCode, 429);
      const networks = await store.read((view) => view.list('network').length);
      assert.equal(networks, 4);
    } finally {
      await app.close();
      await store.close();
    }
  });
});
