/**
 * `sfip qos policy create|list|show|set|delete`, `sfip qos rule add|list|remove` and `sfip fip set|unset
 * --qos-policy` (issue 19) against the API in process; refusals exit non-zero, name the value, change nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apiFixture, type ApiFixture } from '../support/api-fixture.js';
import { sfip } from '../support/sfip-cli.js';
import { dumpStore } from '../support/store-dump.js';

type Json = Record<string, unknown>;

describe('sfip qos and fip --qos-policy', () => {
  let f: ApiFixture;
  let url: string;
  let address = '';

  const json = async (...args: string[]): Promise<Json> => {
    const r = await sfip(url, '--json', ...args);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Json;
  };
  /** Exits non-zero, says `mention`, and leaves the store as it was. */
  const refused = async (mention: string | RegExp, ...args: string[]) => {
    const before = await dumpStore(f.store);
    const r = await sfip(url, ...args);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, typeof mention === 'string' ? new RegExp(mention) : mention);
    assert.equal(await dumpStore(f.store), before);
  };

  before(async () => {
    f = await apiFixture();
    url = await f.app.listen({ host: '127.0.0.1', port: 0 });
    const created = await json('fip', 'create', 'public');
    address = String((created.floatingip as Json).floating_ip_address);
  });
  after(() => f.app.close());

  it('creates a policy, adds one rule of each type and direction, lists and shows them', async () => {
    const policy = (await json('qos', 'policy', 'create', 'gold', '--description', 'ten megabit'))
      .policy as Json;
    assert.equal(policy.name, 'gold');
    const bw = await json(
      'qos',
      'rule',
      'add',
      'gold',
      '--type',
      'bandwidth-limit',
      '--max-kbps',
      '10000',
      '--max-burst-kbits',
      '800',
      '--ingress',
    );
    assert.deepEqual(
      [(bw.bandwidth_limit_rule as Json).max_kbps, (bw.bandwidth_limit_rule as Json).direction],
      [10000, 'ingress'],
    );
    const pps = await json('qos', 'rule', 'add', 'gold', '--type', 'packet-rate-limit', '--max-kpps', '50');
    assert.equal((pps.packet_rate_limit_rule as Json).direction, 'egress');
    const rules = (await json('qos', 'rule', 'list', 'gold')).rules as Json[];
    assert.deepEqual(
      rules.map((r) => [r.type, r.direction]),
      [
        ['bandwidth_limit', 'ingress'],
        ['packet_rate_limit', 'egress'],
      ],
    );
    const table = await sfip(url, 'qos', 'policy', 'list');
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /bandwidth_limit ingress 10000 kbit\/s burst 800 kbit/);
    assert.match(table.stdout, /packet_rate_limit egress 50 kpps/);
  });

  it('refuses bad rules with a message and a non-zero exit, changing nothing', async () => {
    await refused(
      'max_kbps: -1',
      'qos',
      'rule',
      'add',
      'gold',
      '--type',
      'bandwidth-limit',
      '--max-kbps',
      '-1',
    );
    await refused(
      /max_burst_kbps: 4 .*1500-byte/,
      'qos',
      'rule',
      'add',
      'gold',
      '--type',
      'bandwidth-limit',
      '--max-kbps',
      '100',
      '--max-burst-kbits',
      '4',
    );
    await refused(
      'conflicts with rule',
      'qos',
      'rule',
      'add',
      'gold',
      '--type',
      'packet-rate-limit',
      '--max-kpps',
      '1',
    );
    await refused('--max-kbps', 'qos', 'rule', 'add', 'gold', '--type', 'bandwidth-limit', '--max-kpps', '1');
    await refused(
      "'dscp-marking' is not a rule type",
      'qos',
      'rule',
      'add',
      'gold',
      '--type',
      'dscp-marking',
    );
    await refused(
      /cannot be used with/,
      'qos',
      'rule',
      'add',
      'gold',
      '--type',
      'bandwidth-limit',
      '--max-kbps',
      '5',
      '--ingress',
      '--egress',
    );
    await refused("No policy found for 'platinum'", 'qos', 'rule', 'list', 'platinum');
  });

  it('sets the policy on a floating IP, refuses to delete it in use, unsets it and deletes it', async () => {
    const policyId = String(((await json('qos', 'policy', 'show', 'gold')).policy as Json).id);
    const set = await json('fip', 'set', address, '--qos-policy', 'gold');
    assert.equal((set.floatingip as Json).qos_policy_id, policyId);
    await refused(`QoS Policy ${policyId} is used by floating IP`, 'qos', 'policy', 'delete', 'gold');
    const unset = await json('fip', 'unset', address, '--qos-policy');
    assert.equal((unset.floatingip as Json).qos_policy_id, null);
    const removed = await sfip(
      url,
      'qos',
      'rule',
      'remove',
      'gold',
      String(((await json('qos', 'rule', 'list', 'gold')).rules as Json[])[0]!.id),
    );
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(((await json('qos', 'rule', 'list', 'gold')).rules as Json[]).length, 1);
    const deleted = await sfip(url, 'qos', 'policy', 'delete', 'gold');
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.deepEqual((await json('qos', 'policy', 'list')).policies, []);
  });
});
