/**
 * Until a backend enforces QoS limits, the agent programs no floating IP that has a QoS policy (issue 19): it is
 * ERROR naming the missing capability, never forwarded without its limits; the router's other floating IPs are
 * untouched, and removing the policy programs it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Agent } from '../../src/agent/index.js';
import { FakeDataplane } from '../../src/dataplane/index.js';
import { createFloatingIp, createQosPolicy, createQosRule, updateFloatingIp } from '../../src/model/index.js';
import { smallCloud } from '../support/model-fixture.js';

describe('the agent and floating IPs with a QoS policy', () => {
  it('refuses them whole with the missing capability named, and programs them once the policy is removed', async () => {
    const c = await smallCloud();
    const { limited, plain, policyId } = await c.store.update((tx) => {
      const policy = createQosPolicy(tx, c.ctx, { name: 'gold' });
      createQosRule(tx, c.ctx, policy.id, 'bandwidth_limit', { max: 10_000, direction: 'ingress' });
      return {
        policyId: policy.id,
        limited: createFloatingIp(tx, c.ctx, {
          floatingNetworkId: c.publicNet,
          portId: c.vm1,
          qosPolicyId: policy.id,
        }),
        plain: createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm2 }),
      };
    });
    const dp = new FakeDataplane();
    const agent = new Agent({
      store: c.store,
      dataplaneFor: () => dp,
      defaultBackend: 'fake',
      log: pino({ level: 'silent' }),
      resyncIntervalMs: 60_000,
      pollIntervalMs: 60_000,
      programmedRoutersPath: null,
      garp: false,
      conntrackCleanup: false,
    });
    const fip = (id: string) => c.store.read((v) => v.get('floatingip', id)!);
    const inbound = () => [...dp.routers.get(`qrouter-1/${c.router}`)!.inbound];
    await agent.start();
    await agent.sync();
    const refused = await fip(limited.id);
    assert.equal(refused.status, 'ERROR');
    assert.match(
      refused.statusReason,
      new RegExp(`QoS policy ${policyId}.*missing capability: per-floating-IP rate limits`),
    );
    assert.deepEqual(inbound(), [[plain.floatingIpAddress, '10.0.0.12']]);
    assert.equal((await fip(plain.id)).status, 'ACTIVE');

    await c.store.update((tx) => updateFloatingIp(tx, c.ctx, limited.id, { qosPolicyId: null }));
    await agent.sync();
    assert.equal((await fip(limited.id)).status, 'ACTIVE');
    assert.deepEqual(
      inbound().sort(),
      [
        [limited.floatingIpAddress, '10.0.0.11'],
        [plain.floatingIpAddress, '10.0.0.12'],
      ].sort(),
    );

    // Setting a policy on a programmed floating IP takes it out of the kernel: no limit-less forwarding.
    await c.store.update((tx) => updateFloatingIp(tx, c.ctx, limited.id, { qosPolicyId: policyId }));
    await agent.sync();
    assert.equal((await fip(limited.id)).status, 'ERROR');
    assert.deepEqual(inbound(), [[plain.floatingIpAddress, '10.0.0.12']]);
    await agent.stop();
    c.store.close();
  });
});
