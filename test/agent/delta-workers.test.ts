/**
 * Deltas have workers of their own beside the full passes' (`deltaConcurrency`): with one router per change (100
 * routers churning), deltas waiting on their kernel channels must not queue behind a pool sized for full passes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ReconcileOutcome } from '../../src/agent/router-reconciler.js';
import { FakeDataplane } from '../../src/dataplane/index.js';
import {
  addRouterInterface,
  createFloatingIp,
  createNetwork,
  createPort,
  createRouter,
  createSubnet,
  updateFloatingIp,
  type Tx,
} from '../../src/model/index.js';
import { smallCloud, type SmallCloud } from '../support/model-fixture.js';
import { fakeAgent } from '../support/fake-agent.js';

/** Three more routers on the public network, one VM port each. */
async function threeRouters(c: SmallCloud): Promise<{ router: string; port: string }[]> {
  return c.store.update((tx: Tx) =>
    [7, 8, 9].map((host, i) => {
      const net = createNetwork(tx, c.ctx, { name: `private-${i}` });
      const subnet = createSubnet(tx, c.ctx, { networkId: net.id, cidr: `10.${i + 1}.0.0/24` });
      const router = createRouter(tx, c.ctx, {
        name: `r${i + 2}`,
        namespace: `qrouter-${i + 2}`,
        gatewayDevice: `qg-${i + 2}`,
        externalGateway: { networkId: c.publicNet, externalFixedIps: [{ ipAddress: `203.0.113.${host}` }] },
      });
      addRouterInterface(tx, c.ctx, router.id, { subnetId: subnet.id });
      const port = createPort(tx, c.ctx, {
        networkId: net.id,
        fixedIps: [{ ipAddress: `10.${i + 1}.0.11` }],
      });
      return { router: router.id, port: port.id };
    }),
  );
}

async function deltasInFlight(deltaConcurrency: number | undefined): Promise<number> {
  const c = await smallCloud();
  const routers = await threeRouters(c);
  const dp = new FakeDataplane();
  const agent = fakeAgent(c.store, dp, {
    concurrency: 2,
    ...(deltaConcurrency !== undefined && { deltaConcurrency }),
  });
  await agent.start();
  // Every router has a trusted record now (its first full pass): the next change of each is a delta.
  let release!: () => void;
  dp.applyGate = new Promise<void>((r) => (release = r));
  await c.store.update((tx) => {
    // The fixture's pool holds three addresses: one for each router.
    for (const r of routers) createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: r.port });
  });
  const deadline = Date.now() + 2000;
  let most = 0;
  while (Date.now() < deadline) {
    most = Math.max(most, dp.applying);
    if (most === routers.length) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const readsBefore = dp.reads;
  release();
  dp.applyGate = undefined;
  await agent.sync();
  assert.equal(dp.reads, readsBefore, 'they were deltas: nothing was read');
  const active = await c.store.read((v) => v.list('floatingip').filter((f) => f.status === 'ACTIVE').length);
  assert.equal(active, routers.length);
  await agent.stop();
  return most;
}

describe('agent: delta workers', () => {
  it('runs deltas of more routers at once than full passes may use', async () => {
    assert.equal(await deltasInFlight(undefined), 3, 'all three, where the shared pool of two allowed two');
  });

  it('holds them to deltaConcurrency', async () => {
    assert.equal(await deltasInFlight(2), 2);
  });

  it('lets queued floating IP changes go first as a delta when a resync comes, then resyncs', async () => {
    const c = await smallCloud();
    const [a, b] = await threeRouters(c);
    const dp = new FakeDataplane();
    const agent = fakeAgent(c.store, dp, {
      concurrency: 2,
      deltaConcurrency: 1,
    });
    await agent.start();
    const [fipA, fipB] = await c.store.update((tx) =>
      [a!, b!].map((r) => createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: r.port })),
    );
    await agent.sync();
    const outcomes: ReconcileOutcome[] = [];
    agent.on('reconciled', (o: ReconcileOutcome) => outcomes.push(o));
    // Router a's delta holds the only delta worker; router b's change queues behind it.
    let release!: () => void;
    dp.applyGate = new Promise<void>((r) => (release = r));
    await c.store.update((tx) => updateFloatingIp(tx, c.ctx, fipA!.id, { portId: null }));
    while (dp.applying === 0) await new Promise((r) => setTimeout(r, 5));
    await c.store.update((tx) => updateFloatingIp(tx, c.ctx, fipB!.id, { portId: null }));
    await new Promise((r) => setTimeout(r, 50));
    agent.resyncAll('resync');
    release();
    dp.applyGate = undefined;
    await agent.sync();
    const ofB = outcomes.filter((o) => o.routerId === b!.router);
    assert.deepEqual(
      ofB.map((o) => [o.cause, o.changeLatenciesMs !== undefined]),
      [
        ['floatingip-changed', true],
        ['resync', false],
      ],
      'a delta, then the resync',
    );
    assert.equal(ofB[0]!.removed, 1);
    await agent.stop();
  });
});
