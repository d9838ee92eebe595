/**
 * Debian's real openstack CLI against sfip serve for QoS (issue 19): `network qos policy create`, `network qos
 * rule create --type bandwidth-limit --max-kbps … --max-burst-kbits … --egress|--ingress`, `floating ip set
 * --qos-policy` and `unset --qos-policy`, a policy in use refused on delete, and another project refused.
 * (This CLI has no packet-rate-limit rule type; those rules are tested through the API.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openstack, openstackOk, projectToken } from '../support/openstack-cli.js';
import { request, spawnServe, type SpawnedServe } from './spawn-serve.js';

type Json = Record<string, unknown>;

describe(
  'openstack network qos and floating ip --qos-policy against sfip serve',
  { timeout: 240_000 },
  () => {
    let server: SpawnedServe;
    let alice: string;
    let bob: string;
    let externalNetworkId: string;
    let policyId: string;
    let fipId: string;

    const os = async (token: string, args: string[]): Promise<Json> =>
      (await openstackOk(server.url, token, args)) as Json;
    const tokenFor = (project: string) => projectToken(server, project);
    const policy = async () =>
      (await request(server.url, alice, 'GET', `/v2.0/qos/policies/${policyId}`)).body.policy as Json;

    before(async () => {
      server = await spawnServe(['--no-agent']);
      alice = await tokenFor('alice');
      bob = await tokenFor('bob');
      const net = await request(server.url, server.adminToken!, 'POST', '/v2.0/networks', {
        network: { name: 'public', 'router:external': true },
      });
      externalNetworkId = String((net.body.network as Json).id);
      const subnet = await request(server.url, server.adminToken!, 'POST', '/v2.0/subnets', {
        subnet: { network_id: externalNetworkId, cidr: '198.51.100.0/24' },
      });
      assert.equal(subnet.status, 201);
    });
    after(async () => {
      await server?.stop();
    });

    it('creates a policy and bandwidth-limit rules per direction; a second rule for a direction is refused', async () => {
      const created = await os(alice, ['network', 'qos', 'policy', 'create', 'gold', '-f', 'json']);
      policyId = String(created.id);
      assert.equal(created.name, 'gold');
      assert.equal(created.shared, false);
      const egress = await os(alice, [
        'network',
        'qos',
        'rule',
        'create',
        '--type',
        'bandwidth-limit',
        '--max-kbps',
        '10000',
        '--max-burst-kbits',
        '800',
        '--egress',
        'gold',
        '-f',
        'json',
      ]);
      assert.equal(egress.max_kbps, 10000);
      assert.equal(egress.max_burst_kbps, 800);
      assert.equal(egress.direction, 'egress');
      await os(alice, [
        'network',
        'qos',
        'rule',
        'create',
        '--type',
        'bandwidth-limit',
        '--max-kbps',
        '5000',
        '--ingress',
        'gold',
      ]);
      const again = await openstack(server.url, alice, [
        'network',
        'qos',
        'rule',
        'create',
        '--type',
        'bandwidth-limit',
        '--max-kbps',
        '1',
        '--ingress',
        'gold',
      ]);
      assert.notEqual(again.code, 0);
      assert.match(again.stderr, /409.*conflicts with rule/s);
      const listed = (await os(alice, [
        'network',
        'qos',
        'rule',
        'list',
        'gold',
        '-f',
        'json',
      ])) as unknown as Json[];
      assert.deepEqual(listed.map((r) => [r.Type, r.Direction, r['Max Kbps']]).sort(), [
        ['bandwidth_limit', 'egress', 10000],
        ['bandwidth_limit', 'ingress', 5000],
      ]);
      const bad = await openstack(server.url, alice, [
        'network',
        'qos',
        'rule',
        'create',
        '--type',
        'bandwidth-limit',
        '--max-kbps',
        '-3',
        '--egress',
        'gold',
      ]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /max_kbps: -3/);
      assert.equal(((await policy()).rules as Json[]).length, 2);
    });

    it('sets the policy on a floating IP, refuses to delete it while in use, and unsets it', async () => {
      fipId = String((await os(alice, ['floating', 'ip', 'create', externalNetworkId, '-f', 'json'])).id);
      await os(alice, ['floating', 'ip', 'set', '--qos-policy', 'gold', fipId]);
      assert.equal(
        (await os(alice, ['floating', 'ip', 'show', fipId, '-f', 'json'])).qos_policy_id,
        policyId,
      );
      const inUse = await openstack(server.url, alice, ['network', 'qos', 'policy', 'delete', 'gold']);
      assert.notEqual(inUse.code, 0);
      assert.match(inUse.stderr, new RegExp(`QoS Policy ${policyId} is used by floating IP ${fipId}`));
      assert.equal((await policy()).id, policyId);
      await os(alice, ['floating', 'ip', 'unset', '--qos-policy', fipId]);
      assert.equal((await os(alice, ['floating', 'ip', 'show', fipId, '-f', 'json'])).qos_policy_id, null);
    });

    it("refuses another project's policy: not found to use, show or delete", async () => {
      const bobFip = String(
        (await os(bob, ['floating', 'ip', 'create', externalNetworkId, '-f', 'json'])).id,
      );
      const use = await openstack(server.url, bob, [
        'floating',
        'ip',
        'set',
        '--qos-policy',
        policyId,
        bobFip,
      ]);
      assert.notEqual(use.code, 0);
      // The CLI resolves the id first, and sfip answers as for an unknown id.
      assert.match(use.stderr, new RegExp(`No QoSPolicy found for ${policyId}`));
      assert.equal((await os(bob, ['floating', 'ip', 'show', bobFip, '-f', 'json'])).qos_policy_id, null);
      const del = await openstack(server.url, bob, ['network', 'qos', 'policy', 'delete', policyId]);
      assert.notEqual(del.code, 0);
      assert.equal((await policy()).id, policyId);
      const show = await openstack(server.url, bob, ['network', 'qos', 'policy', 'show', 'gold']);
      assert.notEqual(show.code, 0);
    });

    it('deletes the policy once no floating IP uses it', async () => {
      await os(alice, ['network', 'qos', 'policy', 'delete', 'gold']);
      const gone = await request(server.url, alice, 'GET', `/v2.0/qos/policies/${policyId}`);
      assert.equal(gone.status, 404);
    });
  },
);
