import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDataplane, FakeDataplane } from '../../src/dataplane/index.js';
import { createFloatingIp, createPortForwarding } from '../../src/model/index.js';
import { smallCloud } from '../support/model-fixture.js';
import { fakeAgent } from '../support/fake-agent.js';

/** A backend that cannot rewrite ports, as tc (no act_pedit) cannot. */
class NoPortsDataplane extends FakeDataplane {
  readonly portForwardingRefusal = 'backend test cannot program port forwardings: no port rewrite (test)';
}

describe('a backend without port rewriting refuses port forwardings whole, and keeps the 1:1 floating IPs', () => {
  it('marks the forwarding floating IP ERROR with the reason and applies nothing of it', async () => {
    const c = await smallCloud();
    const dp = new NoPortsDataplane();
    const plain = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    const shared = await c.store.update((tx) => {
      const fip = createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet });
      const vm2 = tx.get('port', c.vm2)!;
      createPortForwarding(tx, c.ctx, fip.id, {
        internalPortId: c.vm2,
        internalIpAddress: vm2.fixedIps[0]!.ipAddress,
        protocol: 'tcp',
        internalPort: 22,
        externalPort: 2222,
      });
      return fip;
    });
    const agent = fakeAgent(c.store, dp);
    await agent.start();
    await agent.stop();
    const [plainAfter, sharedAfter] = await c.store.read((v) => [
      v.get('floatingip', plain.id)!,
      v.get('floatingip', shared.id)!,
    ]);
    assert.equal(plainAfter.status, 'ACTIVE');
    assert.equal(sharedAfter.status, 'ERROR');
    assert.match(sharedAfter.statusReason, /cannot program port forwardings/);
    assert.ok(dp.applied.length > 0, 'the router was applied');
    for (const plan of dp.applied) {
      const target = plan.target as { forwardings?: unknown[] };
      assert.equal(target.forwardings, undefined, 'no forwarding reached the backend');
    }
    assert.ok(
      !dp.addressChanges.some((c) => c.add.includes(sharedAfter.floatingIpAddress)),
      'its address was not added',
    );
  });

  it('tc names the missing capability; nftables, eBPF and iptables program forwardings', () => {
    assert.match(createDataplane('tc').portForwardingRefusal ?? '', /act_pedit/);
    assert.equal(createDataplane('ebpf').portForwardingRefusal, undefined);
    assert.equal(createDataplane('nftables').portForwardingRefusal, undefined);
    assert.equal(createDataplane('iptables').portForwardingRefusal, undefined);
  });
});
