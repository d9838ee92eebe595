import assert from 'node:assert/strict';
import { execFileProgram as execFile } from '../../src/exec/spawn.js';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { openstack, openstackOk, projectToken } from '../support/openstack-cli.js';
import { request, spawnServe, type SpawnedServe } from './spawn-serve.js';

const run = promisify(execFile);
/** The router's namespace: the agent (fake dataplane) cleans conntrack in it, so it must exist. */
const NAMESPACE = 'ta-oscli';

type Json = Record<string, unknown>;

async function ip(...args: string[]): Promise<void> {
  await run('ip', args);
}

describe('the real openstack CLI against sfip serve with token auth (agent on the fake dataplane)', () => {
  let server: SpawnedServe;
  let admin: string;
  let alice: string;
  let bob: string;
  const fips: Record<string, Json> = {};

  /** The openstack CLI as a given token, asserting success and parsing `-f json` output. */
  const os = (token: string, args: string[], endpoint = server.url): Promise<unknown> =>
    openstackOk(endpoint, token, args);
  const sfipToken = (project: string) => projectToken(server, project, ['--description', 'cli test']);
  const show = async (token: string, ref: string) =>
    (await os(token, ['floating', 'ip', 'show', ref, '-f', 'json'])) as Json;

  before(async () => {
    await ip('netns', 'add', NAMESPACE);
    server = await spawnServe(['--backend', 'fake', '--no-garp', '--resync-interval', '1s']);
    admin = server.adminToken!;
    alice = await sfipToken('alice');
    bob = await sfipToken('bob');
  });
  after(async () => {
    await server?.stop();
    await ip('netns', 'del', NAMESPACE).catch(() => undefined);
  });

  it('builds the pool as admin and a project topology as alice, with network/subnet/router/port commands', async () => {
    const net = (await os(admin, ['network', 'create', 'public', '--external', '-f', 'json'])) as Json;
    assert.equal(net['router:external'], true);
    await os(admin, [
      'subnet',
      'create',
      'public-v4',
      '--network',
      'public',
      '--subnet-range',
      '203.0.113.0/24',
      '--gateway',
      '203.0.113.1',
      '--allocation-pool',
      'start=203.0.113.10,end=203.0.113.60',
      '-f',
      'json',
    ]);
    const forbidden = await openstack(server.url, alice, ['network', 'create', 'mine', '--external']);
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stderr, /403/);
    await os(alice, ['network', 'create', 'alice-net', '-f', 'json']);
    await os(alice, [
      'subnet',
      'create',
      'alice-subnet',
      '--network',
      'alice-net',
      '--subnet-range',
      '10.1.0.0/24',
      '-f',
      'json',
    ]);
    const router = (await os(alice, ['router', 'create', 'alice-router', '-f', 'json'])) as Json;
    await os(alice, ['router', 'set', 'alice-router', '--external-gateway', 'public']);
    await os(alice, ['router', 'add', 'subnet', 'alice-router', 'alice-subnet']);
    await os(alice, ['port', 'create', 'alice-vm1', '--network', 'alice-net', '-f', 'json']);
    const vm2 = (await os(alice, [
      'port',
      'create',
      'alice-vm2',
      '--network',
      'alice-net',
      '--fixed-ip',
      'subnet=alice-subnet',
      '--fixed-ip',
      'subnet=alice-subnet',
      '-f',
      'json',
    ])) as Json;
    assert.equal((vm2.fixed_ips as unknown[]).length, 2);
    // Where the router lives on this host is sfip's own, admin-only attribute: set it over the API.
    const placed = await request(server.url, admin, 'PUT', `/v2.0/routers/${String(router.id)}`, {
      router: { namespace: NAMESPACE, gateway_device: 'qg-oscli' },
    });
    assert.equal(placed.status, 200);
  });

  it('creates a floating IP on a port with --description and --tag; it is DOWN until the agent has applied it', async () => {
    const created = (await os(alice, [
      'floating',
      'ip',
      'create',
      'public',
      '--port',
      'alice-vm1',
      '--description',
      'web',
      '--tag',
      't1',
      '--tag',
      't2',
      '-f',
      'json',
    ])) as Json;
    fips.web = created;
    assert.match(String(created.floating_ip_address), /^203\.0\.113\.\d+$/);
    assert.match(String(created.fixed_ip_address), /^10\.1\.0\.\d+$/);
    assert.equal(created.description, 'web');
    assert.deepEqual(created.tags, ['t1', 't2']);
    assert.equal(created.project_id, 'alice');
    assert.ok(created.router_id, 'router derived');
    assert.equal((created.port_details as Json).name, 'alice-vm1');
    assert.equal(created.status, 'DOWN', 'the create response predates the agent');
    let status = '';
    for (let i = 0; i < 40 && status !== 'ACTIVE'; i++) {
      const shown = await request(server.url, alice, 'GET', `/v2.0/floatingips/${String(created.id)}`);
      status = String((shown.body.floatingip as Json).status);
      if (status !== 'ACTIVE') await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(status, 'ACTIVE');
    assert.equal((await show(alice, String(created.id))).status, 'ACTIVE');
  });

  it('works with the endpoint given as /v2.0 and as /v2.0/', async () => {
    fips.spare = (await os(
      alice,
      ['floating', 'ip', 'create', 'public', '-f', 'json'],
      `${server.url}/v2.0`,
    )) as Json;
    assert.equal(fips.spare.port_id, null);
    assert.equal(fips.spare.status, 'DOWN');
    const listed = (await os(
      alice,
      ['floating', 'ip', 'list', '-f', 'json'],
      `${server.url}/v2.0/`,
    )) as Json[];
    assert.deepEqual(listed.map((r) => r.ID).sort(), [fips.web!.id, fips.spare.id].sort());
  });

  it('lists with filters: --port, --network, --status, --tags, --fixed-ip-address, --long', async () => {
    const list = async (...args: string[]) =>
      ((await os(alice, ['floating', 'ip', 'list', ...args, '-f', 'json'])) as Json[]).map((r) => r.ID);
    assert.deepEqual(await list('--port', 'alice-vm1'), [fips.web!.id]);
    assert.equal((await list('--network', 'public')).length, 2);
    assert.deepEqual(await list('--status', 'ACTIVE'), [fips.web!.id]);
    assert.deepEqual(await list('--status', 'DOWN'), [fips.spare!.id]);
    assert.deepEqual(await list('--tags', 't2'), [fips.web!.id]);
    assert.deepEqual(await list('--fixed-ip-address', String(fips.web!.fixed_ip_address)), [fips.web!.id]);
    const long = (await os(alice, ['floating', 'ip', 'list', '--long', '-f', 'json'])) as Json[];
    const web = long.find((r) => r.ID === fips.web!.id)!;
    assert.equal(web.Description, 'web');
    assert.deepEqual(web.Tags, ['t1', 't2']);
    assert.equal(web.Status, 'ACTIVE');
  });

  it('shows by address as well as by id', async () => {
    const byAddress = await show(alice, String(fips.spare!.floating_ip_address));
    assert.equal(byAddress.id, fips.spare!.id);
  });

  it('sets --port with --fixed-ip-address and --description, adds --tag; unsets --port and --tag', async () => {
    const ref = String(fips.spare!.floating_ip_address);
    const vm2 = (await os(alice, ['port', 'show', 'alice-vm2', '-f', 'json'])) as Json;
    const second = (vm2.fixed_ips as { ip_address: string }[])[1]!.ip_address;
    await os(alice, [
      'floating',
      'ip',
      'set',
      '--port',
      'alice-vm2',
      '--fixed-ip-address',
      second,
      '--description',
      'moved',
      '--tag',
      'blue',
      ref,
    ]);
    const set = await show(alice, ref);
    assert.equal(set.port_id, vm2.id);
    assert.equal(set.fixed_ip_address, second);
    assert.equal(set.description, 'moved');
    assert.deepEqual(set.tags, ['blue']);
    await os(alice, ['floating', 'ip', 'unset', '--port', '--tag', 'blue', ref]);
    const unset = await show(alice, ref);
    assert.equal(unset.port_id, null);
    assert.equal(unset.fixed_ip_address, null);
    assert.equal(unset.router_id, null);
    assert.deepEqual(unset.tags, []);
    assert.ok(Number(unset.revision_number) > Number(set.revision_number));
  });

  it("keeps projects apart: bob cannot see alice's floating IPs, the admin sees everyone's", async () => {
    const hidden = await openstack(server.url, bob, ['floating', 'ip', 'show', String(fips.web!.id)]);
    assert.equal(hidden.code, 1);
    assert.match(hidden.stderr, /No FloatingIP found/);
    assert.deepEqual(await os(bob, ['floating', 'ip', 'list', '-f', 'json']), []);
    const denied = await openstack(server.url, bob, ['floating', 'ip', 'delete', String(fips.web!.id)]);
    assert.equal(denied.code, 1);
    // (--project would ask Keystone to resolve the name; there is no Keystone, so filter on the column.)
    const all = (await os(admin, ['floating', 'ip', 'list', '-f', 'json'])) as Json[];
    assert.deepEqual(
      all
        .filter((r) => r.Project === 'alice')
        .map((r) => r.ID)
        .sort(),
      [fips.web!.id, fips.spare!.id].sort(),
    );
  });

  it('refuses a chosen address to a project (403) and a bad token (401)', async () => {
    const chosen = await openstack(server.url, alice, [
      'floating',
      'ip',
      'create',
      'public',
      '--floating-ip-address',
      '203.0.113.55',
    ]);
    assert.equal(chosen.code, 1);
    assert.match(chosen.stderr, /403/);
    const bad = await openstack(
      server.url,
      'sfip_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      ['floating', 'ip', 'list'],
    );
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /401/);
    const adminChosen = (await os(admin, [
      'floating',
      'ip',
      'create',
      'public',
      '--floating-ip-address',
      '203.0.113.55',
      '-f',
      'json',
    ])) as Json;
    assert.equal(adminChosen.floating_ip_address, '203.0.113.55');
    fips.chosen = adminChosen;
  });

  it('port forwarding: create, list, show, set and delete with the real client', async () => {
    const fip = (await os(alice, ['floating', 'ip', 'create', 'public', '-f', 'json'])) as Json;
    const address = String(fip.floating_ip_address);
    const vm2 = (await os(alice, ['port', 'show', 'alice-vm2', '-f', 'json'])) as Json;
    const internal = (vm2.fixed_ips as { ip_address: string }[])[0]!.ip_address;
    const pf = (await os(alice, [
      'floating',
      'ip',
      'port',
      'forwarding',
      'create',
      '--internal-ip-address',
      internal,
      '--port',
      'alice-vm2',
      '--internal-protocol-port',
      '22',
      '--external-protocol-port',
      '2222',
      '--protocol',
      'tcp',
      '--description',
      'ssh',
      address,
      '-f',
      'json',
    ])) as Json;
    assert.equal(pf.internal_ip_address, internal);
    assert.equal(pf.internal_port, 22);
    assert.equal(pf.external_port, 2222);
    assert.equal(pf.protocol, 'tcp');
    const list = (await os(alice, [
      'floating',
      'ip',
      'port',
      'forwarding',
      'list',
      address,
      '-f',
      'json',
    ])) as Json[];
    assert.deepEqual(
      list.map((row) => [row.ID, row['Internal IP Address'], row['Internal Port'], row['External Port']]),
      [[pf.id, internal, 22, 2222]],
    );
    await os(alice, [
      'floating',
      'ip',
      'port',
      'forwarding',
      'set',
      '--external-protocol-port',
      '2200',
      '--description',
      'moved',
      address,
      String(pf.id),
    ]);
    const shown = (await os(alice, [
      'floating',
      'ip',
      'port',
      'forwarding',
      'show',
      address,
      String(pf.id),
      '-f',
      'json',
    ])) as Json;
    assert.equal(shown.external_port, 2200);
    assert.equal(shown.description, 'moved');
    const inFip = await show(alice, address);
    assert.equal(inFip.router_id, fips.web!.router_id);
    const hidden = await openstack(server.url, bob, [
      'floating',
      'ip',
      'port',
      'forwarding',
      'list',
      String(fip.id),
    ]);
    assert.equal(hidden.code, 1);
    const bad = await openstack(server.url, alice, [
      'floating',
      'ip',
      'port',
      'forwarding',
      'create',
      '--internal-ip-address',
      internal,
      '--port',
      'alice-vm2',
      '--internal-protocol-port',
      '22',
      '--external-protocol-port',
      '2223',
      '--protocol',
      'tcp',
      address,
    ]);
    assert.equal(bad.code, 1);
    // The same internal socket twice: refused by the server, naming it.
    assert.match(bad.stderr, /22:22\/tcp/);
    await os(alice, ['floating', 'ip', 'port', 'forwarding', 'delete', address, String(pf.id)]);
    assert.deepEqual(
      await os(alice, ['floating', 'ip', 'port', 'forwarding', 'list', address, '-f', 'json']),
      [],
    );
    await os(alice, ['floating', 'ip', 'delete', address]);
  });

  it('deletes by address and by id', async () => {
    await os(alice, [
      'floating',
      'ip',
      'delete',
      String(fips.web!.floating_ip_address),
      String(fips.spare!.id),
    ]);
    await os(admin, ['floating', 'ip', 'delete', String(fips.chosen!.id)]);
    assert.deepEqual(await os(admin, ['floating', 'ip', 'list', '-f', 'json']), []);
  });
});

describe('the real openstack CLI with --os-auth-type none against sfip serve --no-auth', () => {
  let server: SpawnedServe;
  before(async () => {
    server = await spawnServe(['--no-auth', '--no-agent']);
  });
  after(() => server?.stop());

  it('creates, lists, shows and deletes floating IPs without a token', async () => {
    assert.ok(
      server.logs.some((l) => /AUTHENTICATION IS OFF/.test(l)),
      'no-auth mode is logged loudly',
    );
    const network = await request(server.url, undefined, 'POST', '/v2.0/networks', {
      network: { name: 'public', 'router:external': true },
    });
    await request(server.url, undefined, 'POST', '/v2.0/subnets', {
      subnet: { network_id: (network.body.network as Json).id, cidr: '198.51.100.0/24' },
    });
    const none = (args: string[]) => openstack(server.url, undefined, args);
    const created = await none([
      'floating',
      'ip',
      'create',
      'public',
      '--floating-ip-address',
      '198.51.100.20',
      '-f',
      'json',
    ]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal((JSON.parse(created.stdout) as Json).floating_ip_address, '198.51.100.20');
    const listed = await none(['floating', 'ip', 'list', '-f', 'json']);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as Json[]).map((r) => r['Floating IP Address']),
      ['198.51.100.20'],
    );
    assert.equal((await none(['floating', 'ip', 'delete', '198.51.100.20'])).code, 0);
    assert.deepEqual(JSON.parse((await none(['floating', 'ip', 'list', '-f', 'json'])).stdout), []);
  });
});
