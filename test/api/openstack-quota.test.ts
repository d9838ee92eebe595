/**
 * `openstack quota show` and `openstack quota set --floating-ips N PROJECT` with Debian's real openstack CLI
 * against sfip serve (issue 14). The CLI resolves PROJECT through Keystone-shaped /projects and asks for compute
 * and volume quotas at the same endpoint before the network ones; sfip answers those (empty) so the network quota
 * shows and sets as with Neutron.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openstack, openstackOk, projectToken } from '../support/openstack-cli.js';
import { request, spawnServe, type SpawnedServe } from './spawn-serve.js';

type Json = Record<string, unknown>;

describe('openstack quota show/set against sfip serve', { timeout: 240_000 }, () => {
  let server: SpawnedServe;
  let admin: string;
  let alice: string;
  let externalNetworkId: string;

  const os = async (token: string, args: string[]): Promise<Json> =>
    (await openstackOk(server.url, token, args)) as Json;

  before(async () => {
    server = await spawnServe(['--no-agent']);
    admin = server.adminToken!;
    alice = await projectToken(server, 'alice');
    const net = await request(server.url, admin, 'POST', '/v2.0/networks', {
      network: { name: 'public', 'router:external': true },
    });
    externalNetworkId = String((net.body.network as Json).id);
    const subnet = await request(server.url, admin, 'POST', '/v2.0/subnets', {
      subnet: { network_id: externalNetworkId, cidr: '198.51.100.0/24' },
    });
    assert.equal(subnet.status, 201);
  });
  after(async () => {
    await server?.stop();
  });

  it("shows Neutron's default network quotas for a project, as admin and as the project", async () => {
    for (const token of [admin, alice]) {
      const shown = await os(token, ['quota', 'show', 'alice', '-f', 'json']);
      assert.equal(shown['floating-ips'], 50);
      assert.equal(shown.routers, 10);
      assert.equal(shown.networks, 100);
      assert.equal(shown.subnets, 100);
      assert.equal(shown.ports, 500);
      assert.equal(shown.project, 'alice');
    }
    const defaults = await os(admin, ['quota', 'show', '--default', 'alice', '-f', 'json']);
    assert.equal(defaults['floating-ips'], 50);
  });

  it('sets --floating-ips as admin; the project then gets 409 OverQuota past it', async () => {
    await os(admin, ['quota', 'set', '--floating-ips', '2', 'alice']);
    assert.equal((await os(alice, ['quota', 'show', 'alice', '-f', 'json']))['floating-ips'], 2);
    for (let i = 0; i < 2; i++)
      await os(alice, ['floating', 'ip', 'create', externalNetworkId, '-f', 'json']);
    const over = await openstack(server.url, alice, ['floating', 'ip', 'create', externalNetworkId]);
    assert.notEqual(over.code, 0);
    assert.match(over.stderr, /Quota exceeded for resources: \['floatingip'\]/);
    const listed = await request(server.url, alice, 'GET', '/v2.0/floatingips');
    assert.equal((listed.body.floatingips as Json[]).length, 2);
    const detail = await openstack(server.url, alice, [
      'quota',
      'list',
      '--network',
      '--detail',
      '--project',
      'alice',
      '-f',
      'json',
    ]);
    assert.equal(detail.code, 0, detail.stderr);
    const row = (JSON.parse(detail.stdout) as Json[]).find(
      (r) => r.Resource === 'floating_ips' || r.Resource === 'floatingips' || r.Resource === 'floatingip',
    );
    assert.deepEqual(row && [row['In Use'], row.Limit, row.Reserved], [2, 2, 0], detail.stdout);
  });

  it("refuses quota set to a project token, and another project's quota to it, changing nothing", async () => {
    const set = await openstack(server.url, alice, ['quota', 'set', '--floating-ips', '100', 'alice']);
    assert.notEqual(set.code, 0);
    assert.match(set.stderr, /admin/i);
    const other = await openstack(server.url, alice, ['quota', 'show', 'admin']);
    assert.notEqual(other.code, 0);
    assert.equal((await os(admin, ['quota', 'show', 'alice', '-f', 'json']))['floating-ips'], 2);
  });
});
