/**
 * QoS ownership is the model's rule, not only the route's (issue 19): called directly as another project, every
 * QoS model function refuses another project's non-shared policy as unknown and a shared one as not its own.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createFloatingIp,
  createQosPolicy,
  createQosRule,
  deleteQosPolicy,
  deleteQosRule,
  SfipError,
  updateFloatingIp,
  updateQosPolicy,
  updateQosRule,
  type Context,
  type Tx,
} from '../../src/model/index.js';
import { adminContext, smallCloud } from '../support/model-fixture.js';

const as = (projectId: string): Context => ({ ...adminContext(projectId), isAdmin: false });

function refusedWith(status: number, type: string, run: () => unknown): void {
  assert.throws(run, (e: unknown) => e instanceof SfipError && e.status === status && e.type === type);
}

describe('QoS ownership in the model', () => {
  it("refuses another project's policies in every QoS function and in floating IPs", async () => {
    const cloud = await smallCloud();
    const alice = as('alice');
    const bob = as('bob');
    const ids = await cloud.store.update((tx: Tx) => {
      const mine = createQosPolicy(tx, alice, { name: 'mine' });
      const rule = createQosRule(tx, alice, mine.id, 'bandwidth_limit', { max: 1000 });
      const shared = createQosPolicy(tx, cloud.ctx, { projectId: 'alice', shared: true });
      const sharedRule = createQosRule(tx, alice, shared.id, 'packet_rate_limit', { max: 5 });
      const fip = createFloatingIp(tx, bob, { floatingNetworkId: cloud.publicNet });
      return { mine: mine.id, rule: rule.id, shared: shared.id, sharedRule: sharedRule.id, fip: fip.id };
    });
    await cloud.store.update((tx: Tx) => {
      const unknown = (run: () => unknown) => refusedWith(404, 'QosPolicyNotFound', run);
      unknown(() => updateQosPolicy(tx, bob, ids.mine, { name: 'x' }));
      unknown(() => deleteQosPolicy(tx, bob, ids.mine));
      unknown(() => createQosRule(tx, bob, ids.mine, 'bandwidth_limit', { max: 1, direction: 'ingress' }));
      unknown(() => updateQosRule(tx, bob, ids.mine, 'bandwidth_limit', ids.rule, { max: 1 }));
      unknown(() => deleteQosRule(tx, bob, ids.mine, 'bandwidth_limit', ids.rule));
      unknown(() => updateFloatingIp(tx, bob, ids.fip, { qosPolicyId: ids.mine }));
      unknown(() => createFloatingIp(tx, bob, { floatingNetworkId: cloud.publicNet, qosPolicyId: ids.mine }));

      const notOwn = (run: () => unknown) => refusedWith(403, 'PolicyNotAuthorized', run);
      notOwn(() => updateQosPolicy(tx, bob, ids.shared, { name: 'x' }));
      notOwn(() => deleteQosPolicy(tx, bob, ids.shared));
      notOwn(() => createQosRule(tx, bob, ids.shared, 'bandwidth_limit', { max: 1 }));
      notOwn(() => updateQosRule(tx, bob, ids.shared, 'packet_rate_limit', ids.sharedRule, { max: 1 }));
      notOwn(() => deleteQosRule(tx, bob, ids.shared, 'packet_rate_limit', ids.sharedRule));
      // Using a shared policy is allowed.
      assert.equal(updateFloatingIp(tx, bob, ids.fip, { qosPolicyId: ids.shared }).qosPolicyId, ids.shared);
    });
    await cloud.store.close();
  });
});
