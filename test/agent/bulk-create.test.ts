/**
 * Bulk creates through the API with the agent running, as automation filling a cloud sends them: one bulk of
 * floating IPs is one store transaction, so it reaches the agent as one coalesced delta for its router (not one
 * per item), and their statuses are written in one transaction.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ReconcileOutcome } from '../../src/agent/index.js';
import { FakeDataplane } from '../../src/dataplane/index.js';
import { apiFixture } from '../support/api-fixture.js';
import { fakeAgent } from '../support/fake-agent.js';

const COUNT = 40;

describe('a bulk create with the agent running', () => {
  it('reaches the router as one delta holding every floating IP, and their statuses as one transaction', async () => {
    const f = await apiFixture('203.0.113.200');
    const dp = new FakeDataplane();
    const agent = fakeAgent(f.store, dp);
    await agent.start();
    await agent.sync(); // the router's first pass, with nothing to map yet

    const ports = await f.app.inject({
      method: 'POST',
      url: '/v2.0/ports',
      payload: {
        ports: Array.from({ length: COUNT }, (_, k) => ({ network_id: f.privateNet, name: `bulk-${k}` })),
      },
    });
    assert.equal(ports.statusCode, 201, ports.body);
    const portIds = (ports.json() as { ports: { id: string }[] }).ports.map((p) => p.id);

    const outcomes: ReconcileOutcome[] = [];
    agent.on('reconciled', (o: ReconcileOutcome) => outcomes.push(o));
    const appliedBefore = dp.applied.length;
    const statusWrites: number[] = [];
    const updateStatuses = f.store.updateStatuses.bind(f.store);
    f.store.updateStatuses = (kind, patches, updatedAt) => {
      statusWrites.push(patches.length);
      return updateStatuses(kind, patches, updatedAt);
    };

    const fips = await f.app.inject({
      method: 'POST',
      url: '/v2.0/floatingips',
      payload: {
        floatingips: portIds.map((portId) => ({ floating_network_id: f.publicNet, port_id: portId })),
      },
    });
    assert.equal(fips.statusCode, 201, fips.body);
    const created = (fips.json() as { floatingips: { id: string; floating_ip_address: string }[] })
      .floatingips;
    assert.equal(created.length, COUNT);
    await agent.sync();

    const plans = dp.applied.slice(appliedBefore);
    assert.equal(plans.length, 1, 'one batch for the whole bulk');
    assert.equal(plans[0]!.rebuild, false, 'a delta, not a rebuild');
    assert.deepEqual(
      plans[0]!.added.map((m) => m.floatingIp).sort(),
      created.map((c) => c.floating_ip_address).sort(),
    );
    assert.deepEqual(
      outcomes.map((o) => [o.cause, o.added]),
      [['floatingip-changed', COUNT]],
    );
    assert.deepEqual(statusWrites, [COUNT], 'every status in one transaction');
    const statuses = await f.store.read((v) => created.map((c) => v.get('floatingip', c.id)?.status));
    assert.deepEqual(new Set(statuses), new Set(['ACTIVE']));
    await agent.stop();
  });
});
