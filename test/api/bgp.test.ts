/**
 * neutron-dynamic-routing's API (issue 20): bgp-speakers with their peer and gateway-network actions,
 * get_advertised_routes, bgp-peers; admin-only as in Neutron; bad values named, nothing written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  apiFixture,
  assertRefused,
  fixedIpOf,
  type ApiFixture,
  type Json,
  type Project,
  type Reply,
} from './fixture.js';

const SPEAKERS = '/v2.0/bgp-speakers';
const PEERS = '/v2.0/bgp-peers';
const error = (reply: Reply) => reply.body.NeutronError as Json;

describe('BGP speakers and peers (bgp, bgp_4byte_asn)', () => {
  let f: ApiFixture;
  let alice: Project;

  before(async () => {
    f = await apiFixture();
    alice = await f.project('alice', '10.1.0.0/24');
  });
  after(() => f.close());

  const refused = (send: () => Promise<Reply>, status: number, type: string, names: RegExp) =>
    assertRefused(f, send, status, type, names);

  const speaker = async (attrs: Json = {}) =>
    f.admin.create('bgp-speakers', 'bgp_speaker', { name: 's', local_as: 64512, ip_version: 4, ...attrs });
  const peer = async (attrs: Json = {}) =>
    f.admin.create('bgp-peers', 'bgp_peer', { name: 'p', peer_ip: '192.0.2.1', remote_as: 64513, ...attrs });

  it('creates a speaker with Neutron defaults, shows, lists, updates and deletes it', async () => {
    const created = await speaker();
    assert.deepEqual(
      { ...created, id: undefined },
      {
        id: undefined,
        name: 's',
        tenant_id: 'admin',
        project_id: 'admin',
        local_as: 64512,
        ip_version: 4,
        advertise_floating_ip_host_routes: true,
        advertise_tenant_networks: true,
        peers: [],
        networks: [],
      },
    );
    const id = String(created.id);
    assert.deepEqual((await f.admin.get(`${SPEAKERS}/${id}`)).body.bgp_speaker, created);
    const listed = (await f.admin.get(`${SPEAKERS}?local_as=64512`)).body.bgp_speakers as Json[];
    assert.ok(listed.some((s) => s.id === id));
    const updated = await f.admin.put(`${SPEAKERS}/${id}`, {
      bgp_speaker: { name: 't', advertise_tenant_networks: false },
    });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.equal((updated.body.bgp_speaker as Json).name, 't');
    assert.equal((updated.body.bgp_speaker as Json).advertise_tenant_networks, false);
    assert.equal((await f.admin.delete(`${SPEAKERS}/${id}`)).status, 204);
    assert.equal((await f.admin.get(`${SPEAKERS}/${id}`)).status, 404);
  });

  it('accepts 4-byte AS numbers and refuses out-of-range ones, naming the value', async () => {
    assert.equal((await speaker({ local_as: 4294967295 })).local_as, 4294967295);
    assert.equal((await peer({ remote_as: '4200000000', peer_ip: '192.0.2.9' })).remote_as, 4200000000);
    const bad = (body: Json) => () => f.admin.post(SPEAKERS, { bgp_speaker: body });
    await refused(bad({ local_as: 0 }), 400, 'InvalidInput', /'0' is too small/);
    await refused(bad({ local_as: 4294967296 }), 400, 'InvalidInput', /'4294967296' is too large/);
    await refused(bad({ local_as: 'sixty' }), 400, 'InvalidInput', /'sixty' is not an integer/);
    await refused(bad({ local_as: 65000, ip_version: 6 }), 400, 'InvalidInput', /ip_version '6'/);
    await refused(bad({ local_as: 65000, ip_version: 5 }), 400, 'InvalidInput', /'5' is not in \[4, 6\]/);
    await refused(bad({ local_as: 65000, peers: [] }), 400, 'HTTPBadRequest', /peers/);
    const badPeer = (body: Json) => () =>
      f.admin.post(PEERS, { bgp_peer: { peer_ip: '192.0.2.1', remote_as: 1, ...body } });
    await refused(badPeer({ remote_as: -1 }), 400, 'InvalidInput', /'-1' is too small/);
    await refused(badPeer({ peer_ip: '192.0.2.01' }), 400, 'InvalidInput', /'192\.0\.2\.01'.*peer_ip/);
    await refused(badPeer({ peer_ip: '192.0.2' }), 400, 'InvalidInput', /'192\.0\.2'/);
    await refused(badPeer({ auth_type: 'sha1' }), 400, 'InvalidInput', /'sha1' is not in/);
    await refused(
      badPeer({ auth_type: 'md5' }),
      400,
      'InvalidBgpPeerMd5Authentication',
      /requires a password/,
    );
    await refused(
      badPeer({ password: 'secret' }),
      400,
      'InvalidBgpPeerMd5Authentication',
      /auth_type 'none'/,
    );
    await refused(badPeer({ auth_type: 'md5', password: 'has space' }), 400, 'InvalidInput', /password/);
  });

  it('stores an md5 password and never returns it; PUT changes only name and password', async () => {
    const created = await peer({ auth_type: 'md5', password: 's3cret', peer_ip: '192.0.2.2' });
    assert.equal(created.auth_type, 'md5');
    assert.equal('password' in created, false);
    const id = String(created.id);
    const shown = (await f.admin.get(`${PEERS}/${id}`)).body.bgp_peer as Json;
    assert.equal('password' in shown, false);
    const listed = (await f.admin.get(PEERS)).body.bgp_peers as Json[];
    assert.ok(listed.every((p) => !('password' in p)));
    const trimmed = (await f.admin.get(`${PEERS}?fields=password`)).body.bgp_peers as Json[];
    assert.ok(trimmed.length > 0 && trimmed.every((p) => !('password' in p)));
    assert.equal((await f.store.read((v) => v.get('bgppeer', id)))?.password, 's3cret');
    const renamed = await f.admin.put(`${PEERS}/${id}`, { bgp_peer: { name: 'edge', password: 'other' } });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
    assert.equal((await f.store.read((v) => v.get('bgppeer', id)))?.password, 'other');
    await refused(
      () => f.admin.put(`${PEERS}/${id}`, { bgp_peer: { remote_as: 5 } }),
      400,
      'HTTPBadRequest',
      /remote_as/,
    );
  });

  it('adds and removes peers and gateway networks; advertises each associated floating IP via its router gateway', async () => {
    const s = String((await speaker()).id);
    const p = String((await peer({ peer_ip: '192.0.2.3' })).id);
    const add = await f.admin.put(`${SPEAKERS}/${s}/add_bgp_peer`, { bgp_peer_id: p });
    assert.equal(add.status, 200, JSON.stringify(add.body));
    assert.deepEqual(add.body, { bgp_peer_id: p });
    await refused(
      () => f.admin.put(`${SPEAKERS}/${s}/add_bgp_peer`, { bgp_peer_id: p }),
      409,
      'BgpSpeakerPeerBindingExists',
      new RegExp(p),
    );
    const net = await f.admin.put(`${SPEAKERS}/${s}/add_gateway_network`, {
      network_id: f.externalNetworkId,
    });
    assert.deepEqual(net.body, { network_id: f.externalNetworkId });
    await refused(
      () => f.admin.put(`${SPEAKERS}/${s}/add_gateway_network`, { network_id: alice.networkId }),
      400,
      'InvalidInput',
      new RegExp(`${alice.networkId} is not external`),
    );
    const shown = (await f.admin.get(`${SPEAKERS}/${s}`)).body.bgp_speaker as Json;
    assert.deepEqual(shown.peers, [p]);
    assert.deepEqual(shown.networks, [f.externalNetworkId]);

    const routes = async () =>
      (await f.admin.get(`${SPEAKERS}/${s}/get_advertised_routes`)).body.advertised_routes;
    assert.deepEqual(await routes(), []);
    // An unassociated floating IP is no host route; an associated one is, via the router's gateway address.
    const fip = await alice.caller.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
    });
    assert.deepEqual(await routes(), []);
    const associated = await alice.caller.put(`/v2.0/floatingips/${String(fip.id)}`, {
      floatingip: { port_id: alice.ports.vm1.id },
    });
    assert.equal(associated.status, 200);
    const router = (await f.admin.get(`/v2.0/routers/${alice.routerId}`)).body.router as Json;
    const gatewayIp = (
      (router.external_gateway_info as Json).external_fixed_ips as { ip_address: string }[]
    )[0]!.ip_address;
    assert.deepEqual(await routes(), [
      { destination: `${String(fip.floating_ip_address)}/32`, next_hop: gatewayIp },
    ]);
    assert.notEqual(gatewayIp, fixedIpOf(alice.ports.vm1));
    // Turning host routes off empties the list; disassociation too.
    await f.admin.put(`${SPEAKERS}/${s}`, { bgp_speaker: { advertise_floating_ip_host_routes: false } });
    assert.deepEqual(await routes(), []);
    await f.admin.put(`${SPEAKERS}/${s}`, { bgp_speaker: { advertise_floating_ip_host_routes: true } });
    await alice.caller.put(`/v2.0/floatingips/${String(fip.id)}`, { floatingip: { port_id: null } });
    assert.deepEqual(await routes(), []);

    assert.equal((await f.admin.put(`${SPEAKERS}/${s}/remove_bgp_peer`, { bgp_peer_id: p })).status, 200);
    await refused(
      () => f.admin.put(`${SPEAKERS}/${s}/remove_bgp_peer`, { bgp_peer_id: p }),
      404,
      'BgpSpeakerPeerNotAssociated',
      new RegExp(p),
    );
    assert.equal(
      (await f.admin.put(`${SPEAKERS}/${s}/remove_gateway_network`, { network_id: f.externalNetworkId }))
        .status,
      200,
    );
    const unknown = '00000000-0000-4000-8000-000000000000';
    await refused(
      () => f.admin.put(`${SPEAKERS}/${s}/add_bgp_peer`, { bgp_peer_id: unknown }),
      404,
      'BgpPeerNotFound',
      new RegExp(unknown),
    );
    await refused(
      () => f.admin.put(`${SPEAKERS}/${s}/add_gateway_network`, { network_id: unknown }),
      404,
      'NetworkNotFound',
      new RegExp(unknown),
    );
    await refused(
      () => f.admin.put(`${SPEAKERS}/${unknown}/add_bgp_peer`, { bgp_peer_id: p }),
      404,
      'BgpSpeakerNotFound',
      new RegExp(unknown),
    );
  });

  it('deleting a peer removes it from its speakers', async () => {
    const s = String((await speaker()).id);
    const p = String((await peer({ peer_ip: '192.0.2.4' })).id);
    await f.admin.put(`${SPEAKERS}/${s}/add_bgp_peer`, { bgp_peer_id: p });
    assert.equal((await f.admin.delete(`${PEERS}/${p}`)).status, 204);
    assert.deepEqual(((await f.admin.get(`${SPEAKERS}/${s}`)).body.bgp_speaker as Json).peers, []);
  });

  it('is admin-only: a project lists none, cannot create (403) and finds no id (404), actions included', async () => {
    const s = String((await speaker()).id);
    const p = String((await peer({ peer_ip: '192.0.2.5' })).id);
    const bob = alice.caller;
    assert.deepEqual((await bob.get(SPEAKERS)).body.bgp_speakers, []);
    assert.deepEqual((await bob.get(PEERS)).body.bgp_peers, []);
    await refused(
      () => bob.post(SPEAKERS, { bgp_speaker: { local_as: 65000 } }),
      403,
      'PolicyNotAuthorized',
      /create_bgp_speaker/,
    );
    await refused(
      () => bob.post(PEERS, { bgp_peer: { peer_ip: '192.0.2.6', remote_as: 65000 } }),
      403,
      'PolicyNotAuthorized',
      /create_bgp_peer/,
    );
    for (const [send, type] of [
      [() => bob.get(`${SPEAKERS}/${s}`), 'BgpSpeakerNotFound'],
      [() => bob.put(`${SPEAKERS}/${s}`, { bgp_speaker: { name: 'x' } }), 'BgpSpeakerNotFound'],
      [() => bob.delete(`${SPEAKERS}/${s}`), 'BgpSpeakerNotFound'],
      [() => bob.put(`${SPEAKERS}/${s}/add_bgp_peer`, { bgp_peer_id: p }), 'BgpSpeakerNotFound'],
      [() => bob.put(`${SPEAKERS}/${s}/remove_bgp_peer`, { bgp_peer_id: p }), 'BgpSpeakerNotFound'],
      [
        () => bob.put(`${SPEAKERS}/${s}/add_gateway_network`, { network_id: f.externalNetworkId }),
        'BgpSpeakerNotFound',
      ],
      [
        () => bob.put(`${SPEAKERS}/${s}/remove_gateway_network`, { network_id: f.externalNetworkId }),
        'BgpSpeakerNotFound',
      ],
      [() => bob.get(`${PEERS}/${p}`), 'BgpPeerNotFound'],
      [() => bob.put(`${PEERS}/${p}`, { bgp_peer: { name: 'x' } }), 'BgpPeerNotFound'],
      [() => bob.delete(`${PEERS}/${p}`), 'BgpPeerNotFound'],
    ] as const) {
      await refused(send, 404, type, /could not be found/);
    }
    const routes = await bob.get(`${SPEAKERS}/${s}/get_advertised_routes`);
    assert.equal(routes.status, 404);
    assert.equal(error(routes).type, 'BgpSpeakerNotFound');
  });

  it('answers a caller without a token 401 on every BGP endpoint, writing nothing', async () => {
    const s = String((await speaker({ name: 'anon-s' })).id);
    const p = String((await peer({ name: 'anon-p', peer_ip: '192.0.2.7' })).id);
    const before = await f.admin.get(SPEAKERS);
    const anon = f.anonymous;
    for (const send of [
      () => anon.get(SPEAKERS),
      () => anon.post(SPEAKERS, { bgp_speaker: { local_as: 65000 } }),
      () => anon.get(`${SPEAKERS}/${s}`),
      () => anon.put(`${SPEAKERS}/${s}`, { bgp_speaker: { name: 'x' } }),
      () => anon.put(`${SPEAKERS}/${s}/add_bgp_peer`, { bgp_peer_id: p }),
      () => anon.put(`${SPEAKERS}/${s}/add_gateway_network`, { network_id: f.externalNetworkId }),
      () => anon.get(`${SPEAKERS}/${s}/get_advertised_routes`),
      () => anon.delete(`${SPEAKERS}/${s}`),
      () => anon.get(PEERS),
      () => anon.post(PEERS, { bgp_peer: { peer_ip: '192.0.2.8', remote_as: 65000 } }),
      () => anon.get(`${PEERS}/${p}`),
      () => anon.delete(`${PEERS}/${p}`),
    ]) {
      assert.equal((await send()).status, 401);
    }
    assert.deepEqual((await f.admin.get(SPEAKERS)).body, before.body);
    assert.equal((await f.admin.get(`${PEERS}/${p}`)).status, 200);
  });

  it('deleting a gateway network removes it from its speakers', async () => {
    const net = await f.admin.create('networks', 'network', { name: 'edge', 'router:external': true });
    const s = String((await speaker()).id);
    await f.admin.put(`${SPEAKERS}/${s}/add_gateway_network`, { network_id: net.id });
    assert.equal((await f.admin.delete(`/v2.0/networks/${String(net.id)}`)).status, 204);
    assert.deepEqual(((await f.admin.get(`${SPEAKERS}/${s}`)).body.bgp_speaker as Json).networks, []);
  });

  it('advertises the bgp and bgp_4byte_asn extensions', async () => {
    const aliases = ((await f.admin.get('/v2.0/extensions')).body.extensions as Json[]).map((e) => e.alias);
    assert.ok(aliases.includes('bgp'));
    assert.ok(aliases.includes('bgp_4byte_asn'));
  });
});
