/**
 * Debian's real openstack CLI (python3-neutronclient's dynamic routing commands) against sfip serve (issue 20):
 * `bgp speaker create --local-as`, `bgp peer create` (with md5), `bgp speaker add peer`, `bgp speaker add
 * network`, `bgp speaker list advertised routes`, and a project refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openstack, openstackOk, projectToken } from '../support/openstack-cli.js';
import { request, spawnServe, type SpawnedServe } from './spawn-serve.js';

type Json = Record<string, unknown>;

describe('openstack bgp speaker / peer against sfip serve', { timeout: 240_000 }, () => {
  let server: SpawnedServe;
  let admin: string;
  let alice: string;
  let externalNetworkId: string;
  let floatingIp: string;
  let gatewayIp: string;

  const os = (token: string, args: string[]): Promise<unknown> => openstackOk(server.url, token, args);
  const api = async (method: string, path: string, body?: Json): Promise<Json> => {
    const reply = await request(server.url, admin, method, path, body);
    assert.ok(reply.status < 300, `${method} ${path}: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body;
  };

  before(async () => {
    server = await spawnServe(['--no-agent']);
    admin = server.adminToken!;
    alice = await projectToken(server, 'alice');
    // A project's floating IP associated with a port behind a router whose gateway is on "public".
    const net = (
      await api('POST', '/v2.0/networks', { network: { name: 'public', 'router:external': true } })
    ).network as Json;
    externalNetworkId = String(net.id);
    await api('POST', '/v2.0/subnets', {
      subnet: { network_id: externalNetworkId, cidr: '198.51.100.0/24' },
    });
    const inner = (await api('POST', '/v2.0/networks', { network: { name: 'inner', project_id: 'alice' } }))
      .network as Json;
    const subnet = (
      await api('POST', '/v2.0/subnets', {
        subnet: { network_id: inner.id, cidr: '10.9.0.0/24', project_id: 'alice' },
      })
    ).subnet as Json;
    const router = (
      await api('POST', '/v2.0/routers', {
        router: { project_id: 'alice', external_gateway_info: { network_id: externalNetworkId } },
      })
    ).router as Json;
    gatewayIp = ((router.external_gateway_info as Json).external_fixed_ips as { ip_address: string }[])[0]!
      .ip_address;
    await api('PUT', `/v2.0/routers/${String(router.id)}/add_router_interface`, { subnet_id: subnet.id });
    const port = (await api('POST', '/v2.0/ports', { port: { network_id: inner.id, project_id: 'alice' } }))
      .port as Json;
    const fip = (
      await api('POST', '/v2.0/floatingips', {
        floatingip: { floating_network_id: externalNetworkId, port_id: port.id, project_id: 'alice' },
      })
    ).floatingip as Json;
    floatingIp = String(fip.floating_ip_address);
  });
  after(async () => {
    await server?.stop();
  });

  it('creates a speaker and an md5 peer, joins them and the network, and lists the advertised route', async () => {
    const speaker = (await os(admin, [
      'bgp',
      'speaker',
      'create',
      '--local-as',
      '64512',
      '--ip-version',
      '4',
      'edge',
      '-f',
      'json',
    ])) as Json;
    assert.equal(speaker.local_as, 64512);
    assert.equal(speaker.ip_version, 4);
    assert.equal(speaker.advertise_floating_ip_host_routes, true);
    const peer = (await os(admin, [
      'bgp',
      'peer',
      'create',
      '--peer-ip',
      '192.0.2.1',
      '--remote-as',
      '4200000000',
      '--auth-type',
      'md5',
      '--password',
      'hunter2',
      'upstream',
      '-f',
      'json',
    ])) as Json;
    assert.equal(peer.remote_as, 4200000000);
    assert.equal(peer.auth_type, 'md5');
    assert.equal('password' in peer, false);
    await os(admin, ['bgp', 'speaker', 'add', 'peer', 'edge', 'upstream']);
    await os(admin, ['bgp', 'speaker', 'add', 'network', 'edge', externalNetworkId]);
    const shown = (await os(admin, ['bgp', 'speaker', 'show', 'edge', '-f', 'json'])) as Json;
    assert.deepEqual(shown.peers, [peer.id]);
    assert.deepEqual(shown.networks, [externalNetworkId]);
    const routes = (await os(admin, [
      'bgp',
      'speaker',
      'list',
      'advertised',
      'routes',
      'edge',
      '-f',
      'json',
    ])) as Json[];
    assert.deepEqual(routes, [{ Destination: `${floatingIp}/32`, Nexthop: gatewayIp }]);
  });

  it('refuses an AS number out of range and a malformed peer address, naming the value', async () => {
    const big = await openstack(server.url, admin, [
      'bgp',
      'speaker',
      'create',
      '--local-as',
      '4294967296',
      'x',
    ]);
    assert.notEqual(big.code, 0);
    assert.match(big.stderr, /4294967296/);
    const badIp = await openstack(server.url, admin, [
      'bgp',
      'peer',
      'create',
      '--peer-ip',
      '192.0.2.001',
      '--remote-as',
      '65000',
      'x',
    ]);
    assert.notEqual(badIp.code, 0);
    assert.match(badIp.stderr, /'192\.0\.2\.001' is not a valid IPv4 address for peer_ip/);
    const peers = (await os(admin, ['bgp', 'peer', 'list', '-f', 'json'])) as Json[];
    assert.equal(peers.length, 1);
  });

  it('a project sees no speakers and cannot create one', async () => {
    assert.deepEqual(await os(alice, ['bgp', 'speaker', 'list', '-f', 'json']), []);
    const create = await openstack(server.url, alice, [
      'bgp',
      'speaker',
      'create',
      '--local-as',
      '65000',
      'mine',
    ]);
    assert.notEqual(create.code, 0);
    assert.match(create.stderr, /disallowed by policy/);
    const show = await openstack(server.url, alice, ['bgp', 'speaker', 'show', 'edge']);
    assert.notEqual(show.code, 0);
  });
});
