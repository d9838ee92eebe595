/**
 * Neutron's QoS API (issue 19): policies, bandwidth and packet-rate rules, rule types, qos_policy_id on floating
 * IPs, and Neutron's refusals, each leaving the store unchanged.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  apiFixture,
  assertRefused,
  type ApiFixture,
  type Json,
  type Project,
  type Reply,
} from './fixture.js';

const POLICIES = '/v2.0/qos/policies';
const error = (reply: Reply) => reply.body.NeutronError as Json;

describe('QoS policies and rules (qos, qos-bw-limit-direction, qos-pps, qos-fip)', () => {
  let f: ApiFixture;
  let alice: Project;
  let fipId: string;

  before(async () => {
    f = await apiFixture();
    alice = await f.project('alice', '10.1.0.0/24');
    fipId = String(
      (await alice.caller.create('floatingips', 'floatingip', { floating_network_id: f.externalNetworkId }))
        .id,
    );
  });
  after(() => f.close());

  const newPolicy = async (name: string): Promise<string> =>
    String((await alice.caller.create('qos/policies', 'policy', { name })).id);

  /** The reply must be the refusal named, and nothing written. */
  const refused = (send: () => Promise<Reply>, status: number, type: string, names: RegExp) =>
    assertRefused(f, send, status, type, names);

  it('creates, shows, lists, updates and deletes a policy', async () => {
    const reply = await alice.caller.post(POLICIES, { policy: { name: 'gold', description: 'd' } });
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
    const policy = reply.body.policy as Json;
    assert.equal(policy.name, 'gold');
    assert.equal(policy.shared, false);
    assert.equal(policy.project_id, 'alice');
    assert.equal(policy.tenant_id, 'alice');
    assert.deepEqual(policy.rules, []);
    const id = String(policy.id);
    assert.deepEqual((await alice.caller.get(`${POLICIES}/${id}`)).body.policy, policy);
    const listed = (await alice.caller.get(`${POLICIES}?name=gold`)).body.policies as Json[];
    assert.deepEqual(
      listed.map((p) => p.id),
      [id],
    );
    const updated = await alice.caller.put(`${POLICIES}/${id}`, { policy: { name: 'silver' } });
    assert.equal((updated.body.policy as Json).name, 'silver');
    assert.equal((await alice.caller.delete(`${POLICIES}/${id}`)).status, 204);
    assert.equal((await alice.caller.get(`${POLICIES}/${id}`)).status, 404);
  });

  it('adds bandwidth and packet-rate rules, shown in the policy with type and policy id', async () => {
    const id = await newPolicy('rules');
    const bw = await alice.caller.post(`${POLICIES}/${id}/bandwidth_limit_rules`, {
      bandwidth_limit_rule: { max_kbps: 10000, max_burst_kbps: 800, direction: 'ingress' },
    });
    assert.equal(bw.status, 201, JSON.stringify(bw.body));
    const rule = bw.body.bandwidth_limit_rule as Json;
    assert.deepEqual(
      { ...rule, id: undefined },
      { id: undefined, max_kbps: 10000, max_burst_kbps: 800, direction: 'ingress' },
    );
    // Neutron's defaults: egress, burst 0; digit strings are converted as Neutron's convert_to_int does.
    const egress = await alice.caller.post(`${POLICIES}/${id}/bandwidth_limit_rules`, {
      bandwidth_limit_rule: { max_kbps: '5000' },
    });
    assert.equal(egress.status, 201, JSON.stringify(egress.body));
    assert.equal((egress.body.bandwidth_limit_rule as Json).direction, 'egress');
    assert.equal((egress.body.bandwidth_limit_rule as Json).max_burst_kbps, 0);
    const pps = await alice.caller.post(`${POLICIES}/${id}/packet_rate_limit_rules`, {
      packet_rate_limit_rule: { max_kpps: 100, max_burst_kpps: 10, direction: 'egress' },
    });
    assert.equal(pps.status, 201, JSON.stringify(pps.body));
    const ppsRule = pps.body.packet_rate_limit_rule as Json;
    assert.equal(ppsRule.max_kpps, 100);

    const policy = (await alice.caller.get(`${POLICIES}/${id}`)).body.policy as Json;
    const rules = policy.rules as Json[];
    assert.deepEqual(
      rules.map((r) => [r.type, r.direction, r.qos_policy_id]),
      [
        ['bandwidth_limit', 'ingress', id],
        ['bandwidth_limit', 'egress', id],
        ['packet_rate_limit', 'egress', id],
      ],
    );
    const listed = await alice.caller.get(`${POLICIES}/${id}/bandwidth_limit_rules?direction=ingress`);
    assert.deepEqual(listed.body.bandwidth_limit_rules, [rule]);
    const shown = await alice.caller.get(`${POLICIES}/${id}/bandwidth_limit_rules/${String(rule.id)}`);
    assert.deepEqual(shown.body.bandwidth_limit_rule, rule);
    // A packet-rate rule is not a bandwidth rule: not found under the other type's URL.
    const cross = await alice.caller.get(`${POLICIES}/${id}/bandwidth_limit_rules/${String(ppsRule.id)}`);
    assert.equal(cross.status, 404);
    assert.equal(error(cross).type, 'QosRuleNotFound');

    const changed = await alice.caller.put(`${POLICIES}/${id}/bandwidth_limit_rules/${String(rule.id)}`, {
      bandwidth_limit_rule: { max_kbps: 20000 },
    });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.deepEqual(changed.body.bandwidth_limit_rule, { ...rule, max_kbps: 20000 });
    const gone = await alice.caller.delete(`${POLICIES}/${id}/packet_rate_limit_rules/${String(ppsRule.id)}`);
    assert.equal(gone.status, 204);
    assert.deepEqual((await alice.caller.get(`${POLICIES}/${id}/packet_rate_limit_rules`)).body, {
      packet_rate_limit_rules: [],
    });
  });

  it('refuses a second rule of the same type and direction (QoSRulesConflict), and a move onto one', async () => {
    const id = await newPolicy('conflict');
    const first = await alice.caller.create(
      `qos/policies/${id}/bandwidth_limit_rules`,
      'bandwidth_limit_rule',
      {
        max_kbps: 1000,
        direction: 'egress',
      },
    );
    await refused(
      () =>
        alice.caller.post(`${POLICIES}/${id}/bandwidth_limit_rules`, {
          bandwidth_limit_rule: { max_kbps: 2000, direction: 'egress' },
        }),
      409,
      'QoSRulesConflict',
      new RegExp(String(first.id)),
    );
    const ingress = await alice.caller.create(
      `qos/policies/${id}/bandwidth_limit_rules`,
      'bandwidth_limit_rule',
      { max_kbps: 1000, direction: 'ingress' },
    );
    await refused(
      () =>
        alice.caller.put(`${POLICIES}/${id}/bandwidth_limit_rules/${String(ingress.id)}`, {
          bandwidth_limit_rule: { direction: 'egress' },
        }),
      409,
      'QoSRulesConflict',
      /egress/,
    );
    // The same direction in another rule type is no conflict.
    const pps = await alice.caller.post(`${POLICIES}/${id}/packet_rate_limit_rules`, {
      packet_rate_limit_rule: { max_kpps: 10, direction: 'egress' },
    });
    assert.equal(pps.status, 201);
  });

  it('refuses bad rates, bursts and directions, naming the value', async () => {
    const id = await newPolicy('bad');
    const bw = (rule: Json) => () =>
      alice.caller.post(`${POLICIES}/${id}/bandwidth_limit_rules`, { bandwidth_limit_rule: rule });
    await refused(bw({ max_kbps: -5 }), 400, 'BadRequest', /max_kbps: -5/);
    await refused(bw({ max_kbps: 0 }), 400, 'BadRequest', /max_kbps: 0/);
    await refused(bw({ max_kbps: 2147483647 }), 400, 'BadRequest', /max_kbps: 2147483647/);
    await refused(
      bw({ max_kbps: 1000, max_burst_kbps: 8 }),
      400,
      'BadRequest',
      /max_burst_kbps: 8 .*1500-byte/,
    );
    await refused(bw({ max_kbps: 1000, max_burst_kbps: -1 }), 400, 'BadRequest', /max_burst_kbps: -1/);
    await refused(bw({ max_kbps: 1000, direction: 'sideways' }), 400, 'BadRequest', /'sideways'/);
    await refused(bw({ max_burst_kbps: 100 }), 400, 'HTTPBadRequest', /max_kbps/);
    await refused(bw({ max_kbps: 1.5 }), 400, 'HTTPBadRequest', /max_kbps/);
    await refused(bw({ max_kbps: 100, dscp_mark: 10 }), 400, 'HTTPBadRequest', /dscp_mark/);
    const pps = (rule: Json) => () =>
      alice.caller.post(`${POLICIES}/${id}/packet_rate_limit_rules`, { packet_rate_limit_rule: rule });
    await refused(pps({ max_kpps: 100001 }), 400, 'BadRequest', /max_kpps: 100001/);
    await refused(pps({ max_kpps: 10, direction: 'any' }), 400, 'BadRequest', /'any'/);
    await refused(
      () => alice.caller.post(`${POLICIES}/${id}/minimum_bandwidth_rules`, { minimum_bandwidth_rule: {} }),
      404,
      'HTTPNotFound',
      /.*/,
    );
  });

  it('refuses bad values on update too, naming them, and leaves the rule as it was', async () => {
    const id = await newPolicy('bad-update');
    const rule = await alice.caller.create(
      `qos/policies/${id}/bandwidth_limit_rules`,
      'bandwidth_limit_rule',
      {
        max_kbps: 1000,
        max_burst_kbps: 800,
      },
    );
    const bw = `${POLICIES}/${id}/bandwidth_limit_rules/${String(rule.id)}`;
    const put = (change: Json) => () => alice.caller.put(bw, { bandwidth_limit_rule: change });
    await refused(put({ max_kbps: -1 }), 400, 'BadRequest', /max_kbps: -1/);
    await refused(put({ max_kbps: 100000001 }), 400, 'BadRequest', /max_kbps: 100000001/);
    await refused(put({ max_burst_kbps: 11 }), 400, 'BadRequest', /max_burst_kbps: 11 /);
    await refused(put({ direction: 'both' }), 400, 'BadRequest', /'both'/);
    const pps = await alice.caller.create(
      `qos/policies/${id}/packet_rate_limit_rules`,
      'packet_rate_limit_rule',
      {
        max_kpps: 5,
      },
    );
    const ppsPath = `${POLICIES}/${id}/packet_rate_limit_rules/${String(pps.id)}`;
    await refused(
      () => alice.caller.put(ppsPath, { packet_rate_limit_rule: { max_burst_kpps: -3 } }),
      400,
      'BadRequest',
      /max_burst_kpps: -3/,
    );
    await refused(
      () => alice.caller.put(ppsPath, { packet_rate_limit_rule: { max_kpps: 0 } }),
      400,
      'BadRequest',
      /max_kpps: 0/,
    );
    const shown = (await alice.caller.get(bw)).body.bandwidth_limit_rule as Json;
    assert.deepEqual([shown.max_kbps, shown.max_burst_kbps, shown.direction], [1000, 800, 'egress']);
  });

  it('sets qos_policy_id on a floating IP at create and update, null unsets it, and a policy in use is kept', async () => {
    const id = await newPolicy('fip');
    const set = await alice.caller.put(`/v2.0/floatingips/${fipId}`, { floatingip: { qos_policy_id: id } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal((set.body.floatingip as Json).qos_policy_id, id);
    const filtered = await alice.caller.get(`/v2.0/floatingips?qos_policy_id=${id}`);
    assert.deepEqual(
      (filtered.body.floatingips as Json[]).map((x) => x.id),
      [fipId],
    );
    await refused(() => alice.caller.delete(`${POLICIES}/${id}`), 409, 'QosPolicyInUse', new RegExp(fipId));

    const created = await alice.caller.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
      qos_policy_id: id,
    });
    assert.equal(created.qos_policy_id, id);

    const unset = await alice.caller.put(`/v2.0/floatingips/${fipId}`, {
      floatingip: { qos_policy_id: null },
    });
    assert.equal((unset.body.floatingip as Json).qos_policy_id, null);
    // Still used by the second floating IP; once that one goes, the policy can go.
    assert.equal((await alice.caller.delete(`${POLICIES}/${id}`)).status, 409);
    assert.equal((await alice.caller.delete(`/v2.0/floatingips/${String(created.id)}`)).status, 204);
    assert.equal((await alice.caller.delete(`${POLICIES}/${id}`)).status, 204);

    const missing = '00000000-0000-4000-8000-000000000000';
    await refused(
      () => alice.caller.put(`/v2.0/floatingips/${fipId}`, { floatingip: { qos_policy_id: missing } }),
      404,
      'QosPolicyNotFound',
      new RegExp(missing),
    );
  });

  it('lists the rule types and shows their parameters, with the drivers that enforce them (nftables, eBPF, tc)', async () => {
    const types = await alice.caller.get('/v2.0/qos/rule-types');
    assert.deepEqual(types.body, {
      rule_types: [{ type: 'bandwidth_limit' }, { type: 'packet_rate_limit' }],
    });
    const shown = (await alice.caller.get('/v2.0/qos/rule-types/bandwidth_limit')).body.rule_type as Json;
    assert.equal(shown.type, 'bandwidth_limit');
    assert.deepEqual(
      (shown.drivers as Json[]).map((d) => d.name),
      ['nftables', 'ebpf', 'tc'],
    );
    assert.deepEqual((shown.drivers as Json[])[0]!.supported_parameters, shown.supported_parameters);
    const unknown = await alice.caller.get('/v2.0/qos/rule-types/dscp_marking');
    assert.equal(unknown.status, 404);
    assert.match(String(error(unknown).message), /dscp_marking/);
  });

  it('advertises the QoS extensions', async () => {
    const aliases = ((await alice.caller.get('/v2.0/extensions')).body.extensions as Json[]).map(
      (e) => e.alias,
    );
    for (const alias of ['qos', 'qos-bw-limit-direction', 'qos-pps', 'qos-fip', 'qos-rule-type-details']) {
      assert.ok(aliases.includes(alias), alias);
    }
  });
});
