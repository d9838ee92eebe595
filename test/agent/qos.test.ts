/**
 * Floating IPs with a QoS policy (issue 19): the agent hands their limits to a backend that enforces them,
 * re-plans them when a rule of their policy changes, and on a backend that cannot enforce them (`qosRefusal`)
 * leaves them out whole, ERROR naming the missing capability, never forwarded without their limits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDataplane, FakeDataplane } from '../../src/dataplane/index.js';
import {
  createFloatingIp,
  createQosPolicy,
  createQosRule,
  deleteQosRule,
  updateFloatingIp,
  updateQosRule,
} from '../../src/model/index.js';
import { smallCloud } from '../support/model-fixture.js';
import { fakeAgent } from '../support/fake-agent.js';

async function setup() {
  const c = await smallCloud();
  const ids = await c.store.update((tx) => {
    const policy = createQosPolicy(tx, c.ctx, { name: 'gold' });
    const rule = createQosRule(tx, c.ctx, policy.id, 'bandwidth_limit', {
      max: 10_000,
      direction: 'ingress',
    });
    return {
      policyId: policy.id,
      ruleId: rule.id,
      limited: createFloatingIp(tx, c.ctx, {
        floatingNetworkId: c.publicNet,
        portId: c.vm1,
        qosPolicyId: policy.id,
      }),
      plain: createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm2 }),
    };
  });
  const dp = new FakeDataplane();
  const agent = fakeAgent(c.store, dp);
  const fip = (id: string) => c.store.read((v) => v.get('floatingip', id)!);
  const state = () => dp.routers.get(`qrouter-1/${c.router}`)!;
  return { c, ...ids, dp, agent, fip, state };
}

describe('the agent and floating IPs with a QoS policy', () => {
  it('programs their limits (default burst resolved) and re-plans them when a rule of the policy changes', async () => {
    const { c, policyId, ruleId, limited, plain, dp, agent, fip, state } = await setup();
    await agent.start();
    await agent.sync();
    assert.equal((await fip(limited.id)).status, 'ACTIVE');
    // 10,000 kbit/s ingress; burst 0 is the default, 80% of one second.
    assert.deepEqual([...state().limits], [[limited.floatingIpAddress, 'ingress 10000/8000 kbit']]);
    assert.equal(state().inbound.size, 2);

    const applies = dp.applied.length;
    await c.store.update((tx) => {
      updateQosRule(tx, c.ctx, policyId, 'bandwidth_limit', ruleId, { max: 2_000, maxBurst: 500 });
      createQosRule(tx, c.ctx, policyId, 'packet_rate_limit', { max: 5, direction: 'egress' });
    });
    await agent.sync();
    assert.deepEqual(
      [...state().limits],
      [[limited.floatingIpAddress, 'egress 5000/500 packets; ingress 2000/500 kbit']],
      'the rule change reached the floating IP (packet burst default: a tenth of a second)',
    );
    assert.equal(dp.applied.length, applies + 1, 'one batch for the router');
    assert.equal((await fip(plain.id)).status, 'ACTIVE');

    const rules = await c.store.read((v) => v.get('qospolicy', policyId)!.rules);
    await c.store.update((tx) => {
      for (const r of rules) deleteQosRule(tx, c.ctx, policyId, r.type, r.id);
    });
    await agent.sync();
    assert.deepEqual([...state().limits], [], 'a policy without rules limits nothing');
    assert.equal(state().inbound.size, 2);
    await agent.stop();
    await c.store.close();
  });

  it('on a backend that refuses QoS: ERROR naming the capability, then programmed once the policy is removed', async () => {
    const { c, policyId, limited, plain, dp, agent, fip, state } = await setup();
    dp.qosRefusal = 'backend fake cannot enforce them (missing capability: test)';
    const inbound = () => [...state().inbound];
    await agent.start();
    await agent.sync();
    const refused = await fip(limited.id);
    assert.equal(refused.status, 'ERROR');
    assert.match(
      refused.statusReason,
      new RegExp(`QoS policy ${policyId} with rate limits; backend fake cannot enforce them`),
    );
    assert.deepEqual(inbound(), [[plain.floatingIpAddress, '10.0.0.12']]);
    assert.equal((await fip(plain.id)).status, 'ACTIVE');

    await c.store.update((tx) => updateFloatingIp(tx, c.ctx, limited.id, { qosPolicyId: null }));
    await agent.sync();
    assert.equal((await fip(limited.id)).status, 'ACTIVE');
    assert.equal(state().inbound.size, 2);

    // Setting a policy on a programmed floating IP takes it out of the kernel: no limit-less forwarding.
    await c.store.update((tx) => updateFloatingIp(tx, c.ctx, limited.id, { qosPolicyId: policyId }));
    await agent.sync();
    assert.equal((await fip(limited.id)).status, 'ERROR');
    assert.deepEqual(inbound(), [[plain.floatingIpAddress, '10.0.0.12']]);
    await agent.stop();
    await c.store.close();
  });

  it('every kernel backend but nftables, eBPF and tc names its missing capability', () => {
    for (const backend of ['iptables'] as const)
      assert.match(createDataplane(backend).qosRefusal ?? '', /missing capability/, backend);
    for (const backend of ['nftables', 'ebpf', 'tc'] as const)
      assert.equal(createDataplane(backend).qosRefusal, undefined, backend);
  });
});
