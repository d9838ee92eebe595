/**
 * QoS as another project (issue 19): a project cannot read, use, change or delete another project's non-shared
 * policy or its rules (404, as for an unknown id); a shared policy is readable and usable by every project but
 * changed only by its owner (403); refusals write nothing.
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

describe('QoS policies as another project', () => {
  let f: ApiFixture;
  let alice: Project;
  let bob: Project;
  let privateId: string;
  let privateRuleId: string;
  let sharedId: string;
  let sharedRuleId: string;
  let bobFipId: string;

  before(async () => {
    f = await apiFixture();
    alice = await f.project('alice', '10.1.0.0/24');
    bob = await f.project('bob', '10.2.0.0/24');
    privateId = String((await alice.caller.create('qos/policies', 'policy', { name: 'alice-only' })).id);
    privateRuleId = String(
      (
        await alice.caller.create(`qos/policies/${privateId}/bandwidth_limit_rules`, 'bandwidth_limit_rule', {
          max_kbps: 1000,
        })
      ).id,
    );
    // Only an admin shares: here on behalf of alice, who owns it afterwards.
    sharedId = String(
      (
        await f.admin.create('qos/policies', 'policy', {
          name: 'everyone',
          shared: true,
          project_id: 'alice',
        })
      ).id,
    );
    sharedRuleId = String(
      (
        await alice.caller.create(
          `qos/policies/${sharedId}/packet_rate_limit_rules`,
          'packet_rate_limit_rule',
          {
            max_kpps: 10,
          },
        )
      ).id,
    );
    bobFipId = String(
      (await bob.caller.create('floatingips', 'floatingip', { floating_network_id: f.externalNetworkId })).id,
    );
  });
  after(() => f.close());

  /** The reply must be the refusal named, and nothing written. */
  const refused = (send: () => Promise<Reply>, status: number, type: string) =>
    assertRefused(f, send, status, type);

  it("does not show or list another project's non-shared policy or its rules: 404 as for an unknown id", async () => {
    const listed = (await bob.caller.get(POLICIES)).body.policies as Json[];
    assert.deepEqual(
      listed.map((p) => p.id),
      [sharedId],
    );
    assert.deepEqual((await bob.caller.get(`${POLICIES}?project_id=alice`)).body.policies, [
      (await bob.caller.get(`${POLICIES}/${sharedId}`)).body.policy,
    ]);
    for (const url of [
      `${POLICIES}/${privateId}`,
      `${POLICIES}/${privateId}/tags`,
      `${POLICIES}/${privateId}/bandwidth_limit_rules`,
      `${POLICIES}/${privateId}/bandwidth_limit_rules/${privateRuleId}`,
      `${POLICIES}/${privateId}/packet_rate_limit_rules`,
    ]) {
      const reply = await bob.caller.get(url);
      assert.equal(reply.status, 404, url);
      assert.equal(error(reply).type, 'QosPolicyNotFound', url);
    }
  });

  it("does not change, delete or add rules to another project's non-shared policy (404)", async () => {
    const p = `${POLICIES}/${privateId}`;
    await refused(() => bob.caller.put(p, { policy: { name: 'mine now' } }), 404, 'QosPolicyNotFound');
    await refused(() => bob.caller.delete(p), 404, 'QosPolicyNotFound');
    await refused(() => bob.caller.put(`${p}/tags/x`, undefined), 404, 'QosPolicyNotFound');
    await refused(
      () =>
        bob.caller.post(`${p}/bandwidth_limit_rules`, {
          bandwidth_limit_rule: { max_kbps: 1, direction: 'ingress' },
        }),
      404,
      'QosPolicyNotFound',
    );
    await refused(
      () =>
        bob.caller.put(`${p}/bandwidth_limit_rules/${privateRuleId}`, {
          bandwidth_limit_rule: { max_kbps: 1 },
        }),
      404,
      'QosPolicyNotFound',
    );
    await refused(
      () => bob.caller.delete(`${p}/bandwidth_limit_rules/${privateRuleId}`),
      404,
      'QosPolicyNotFound',
    );
    const still = (await alice.caller.get(p)).body.policy as Json;
    assert.equal(still.name, 'alice-only');
    assert.deepEqual(
      (still.rules as Json[]).map((r) => r.max_kbps),
      [1000],
    );
  });

  it("does not put another project's non-shared policy on its floating IP, at create or update (404)", async () => {
    await refused(
      () => bob.caller.put(`/v2.0/floatingips/${bobFipId}`, { floatingip: { qos_policy_id: privateId } }),
      404,
      'QosPolicyNotFound',
    );
    await refused(
      () =>
        bob.caller.post('/v2.0/floatingips', {
          floatingip: { floating_network_id: f.externalNetworkId, qos_policy_id: privateId },
        }),
      404,
      'QosPolicyNotFound',
    );
    // Nor can it set or unset the policy of another project's floating IP.
    const aliceFip = await alice.caller.create('floatingips', 'floatingip', {
      floating_network_id: f.externalNetworkId,
      qos_policy_id: privateId,
    });
    await refused(
      () =>
        bob.caller.put(`/v2.0/floatingips/${String(aliceFip.id)}`, { floatingip: { qos_policy_id: null } }),
      404,
      'FloatingIPNotFound',
    );
    assert.equal((await alice.caller.delete(`/v2.0/floatingips/${String(aliceFip.id)}`)).status, 204);
  });

  it('reads and uses a shared policy, but cannot change it, its rules or its tags (403)', async () => {
    const shown = await bob.caller.get(`${POLICIES}/${sharedId}/packet_rate_limit_rules/${sharedRuleId}`);
    assert.equal(shown.status, 200);
    const p = `${POLICIES}/${sharedId}`;
    await refused(() => bob.caller.put(p, { policy: { name: 'mine now' } }), 403, 'PolicyNotAuthorized');
    await refused(() => bob.caller.put(p, { policy: { shared: false } }), 403, 'PolicyNotAuthorized');
    await refused(() => bob.caller.delete(p), 403, 'PolicyNotAuthorized');
    await refused(() => bob.caller.put(`${p}/tags/x`, undefined), 403, 'PolicyNotAuthorized');
    await refused(
      () => bob.caller.post(`${p}/bandwidth_limit_rules`, { bandwidth_limit_rule: { max_kbps: 1 } }),
      403,
      'PolicyNotAuthorized',
    );
    await refused(
      () =>
        bob.caller.put(`${p}/packet_rate_limit_rules/${sharedRuleId}`, {
          packet_rate_limit_rule: { max_kpps: 1 },
        }),
      403,
      'PolicyNotAuthorized',
    );
    await refused(
      () => bob.caller.delete(`${p}/packet_rate_limit_rules/${sharedRuleId}`),
      403,
      'PolicyNotAuthorized',
    );

    const used = await bob.caller.put(`/v2.0/floatingips/${bobFipId}`, {
      floatingip: { qos_policy_id: sharedId },
    });
    assert.equal(used.status, 200, JSON.stringify(used.body));
    assert.equal((used.body.floatingip as Json).qos_policy_id, sharedId);
  });

  it("keeps a shared policy that another project's floating IP uses, without naming that floating IP", async () => {
    const p = `${POLICIES}/${sharedId}`;
    const unshare = await refused(
      () => alice.caller.put(p, { policy: { shared: false } }),
      409,
      'QosPolicyInUse',
    );
    assert.doesNotMatch(String(error(unshare).message), new RegExp(bobFipId));
    const del = await refused(() => alice.caller.delete(p), 409, 'QosPolicyInUse');
    assert.doesNotMatch(String(error(del).message), new RegExp(bobFipId));
    // The admin sees whose it is.
    const adminDel = await refused(() => f.admin.delete(p), 409, 'QosPolicyInUse');
    assert.match(String(error(adminDel).message), new RegExp(bobFipId));
  });

  it('does not let a project share a policy, or create one for another project', async () => {
    await refused(
      () => bob.caller.post(POLICIES, { policy: { name: 's', shared: true } }),
      403,
      'PolicyNotAuthorized',
    );
    const own = await bob.caller.create('qos/policies', 'policy', { name: 'own' });
    await refused(
      () => bob.caller.put(`${POLICIES}/${String(own.id)}`, { policy: { shared: true } }),
      403,
      'PolicyNotAuthorized',
    );
    await refused(
      () => bob.caller.post(POLICIES, { policy: { name: 'x', project_id: 'alice' } }),
      400,
      'InvalidInput',
    );
  });
});
