/**
 * A router the kernel holds nothing of is filled step by step (src/agent/chunked-fill.ts): the first chunk as a
 * whole-router apply, the rest as deltas, each floating IP reported ACTIVE only after its step was applied.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Agent, type ReconcileOutcome } from '../../src/agent/index.js';
import { FakeDataplane } from '../../src/dataplane/index.js';
import type { BackendPlan } from '../../src/dataplane/index.js';
import {
  addRouterInterface,
  createFloatingIp,
  createNetwork,
  createPort,
  createRouter,
  createSubnet,
  type FloatingIp,
} from '../../src/model/index.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { adminContext } from '../support/model-fixture.js';

const log = pino({ level: 'silent' });

/** One router with `count` associated floating IPs (203.0.113.10 onwards -> 10.0.0.10 onwards). */
async function cloud(count: number) {
  const store = new SqliteStore({ path: ':memory:' });
  const ctx = adminContext();
  const fips = await store.update((tx) => {
    const pub = createNetwork(tx, ctx, { name: 'public', external: true });
    createSubnet(tx, ctx, {
      networkId: pub.id,
      cidr: '203.0.113.0/24',
      gatewayIp: '203.0.113.1',
      allocationPools: [{ start: '203.0.113.10', end: '203.0.113.200' }],
    });
    const priv = createNetwork(tx, ctx, { name: 'private' });
    const privSub = createSubnet(tx, ctx, { networkId: priv.id, cidr: '10.0.0.0/24' });
    const router = createRouter(tx, ctx, {
      name: 'r1',
      namespace: 'qrouter-1',
      gatewayDevice: 'qg-1',
      externalGateway: { networkId: pub.id, externalFixedIps: [{ ipAddress: '203.0.113.2' }] },
    });
    addRouterInterface(tx, ctx, router.id, { subnetId: privSub.id });
    return Array.from({ length: count }, (_, i) => {
      const port = createPort(tx, ctx, { networkId: priv.id, fixedIps: [{ ipAddress: `10.0.0.${10 + i}` }] });
      return createFloatingIp(tx, ctx, {
        floatingNetworkId: pub.id,
        floatingIpAddress: `203.0.113.${10 + i}`,
        portId: port.id,
      });
    });
  });
  return { store, fips };
}

function agentFor(store: SqliteStore, dp: FakeDataplane, fillChunk: number): Agent {
  return new Agent({
    store,
    dataplaneFor: () => dp,
    defaultBackend: 'fake',
    log,
    resyncIntervalMs: 60_000,
    pollIntervalMs: 60_000,
    programmedRoutersPath: null,
    garp: false,
    conntrackCleanup: false,
    fillChunk,
  });
}

const activeIds = (store: SqliteStore, fips: readonly FloatingIp[]) =>
  store.read((v) => fips.filter((f) => v.get('floatingip', f.id)?.status === 'ACTIVE').map((f) => f.id));

describe('filling a router from nothing in steps', () => {
  it('applies the first chunk whole, the rest as deltas, and reports each floating IP only once applied', async () => {
    const { store, fips } = await cloud(7);
    const dp = new FakeDataplane();
    // What the store says is ACTIVE at the moment each step reaches the kernel, beside what the kernel held.
    const seen: { plan: BackendPlan; active: string[]; installed: string[] }[] = [];
    const apply = dp.apply.bind(dp);
    dp.apply = async (plan) => {
      const installed = [...(dp.routers.values().next().value?.inbound.keys() ?? [])];
      seen.push({ plan, active: await activeIds(store, fips), installed });
      return apply(plan);
    };
    const agent = agentFor(store, dp, 3);
    const outcomes: ReconcileOutcome[] = [];
    agent.on('reconciled', (o: ReconcileOutcome) => outcomes.push(o));
    await agent.start();

    assert.deepEqual(
      seen.map((s) => [s.plan.rebuild, s.plan.added.map((m) => m.floatingIp)]),
      [
        [true, ['203.0.113.10', '203.0.113.11', '203.0.113.12']],
        [false, ['203.0.113.13', '203.0.113.14', '203.0.113.15']],
        [false, ['203.0.113.16']],
      ],
    );
    const addressOf = new Map(fips.map((f) => [f.id, f.floatingIpAddress as string]));
    for (const step of seen) {
      // Whatever is ACTIVE when a step is applied was installed by an earlier step.
      for (const id of step.active) assert.ok(step.installed.includes(addressOf.get(id)!), addressOf.get(id));
    }
    const state = dp.routers.values().next().value!;
    assert.deepEqual(
      [...state.inbound].sort(),
      fips.map((f, i) => [f.floatingIpAddress, `10.0.0.${10 + i}`]).sort(),
    );
    assert.deepEqual([...state.addresses].sort(), fips.map((f) => f.floatingIpAddress).sort());
    assert.deepEqual((await activeIds(store, fips)).sort(), fips.map((f) => f.id).sort());
    assert.deepEqual(
      outcomes.map((o) => [o.error, o.rebuilt, o.added]),
      [[undefined, true, 7]],
    );
    await agent.stop();

    // A restart finds everything in place: one read, nothing for the backend to apply.
    const applies = seen.length;
    const reads = dp.reads;
    const again = agentFor(store, dp, 3);
    await again.start();
    assert.equal(seen.length, applies);
    assert.equal(dp.reads, reads + 1);
    assert.equal(state.inbound.size, 7);
    await again.stop();
  });

  it('a router within one chunk is applied in one step', async () => {
    const { store, fips } = await cloud(3);
    const dp = new FakeDataplane();
    const agent = agentFor(store, dp, 3);
    await agent.start();
    assert.deepEqual(
      dp.applied.map((p) => [p.rebuild, p.added.length]),
      [[true, 3]],
    );
    assert.equal((await activeIds(store, fips)).length, 3);
    await agent.stop();
  });

  it('a step the kernel refuses fails the pass; the next pass completes the router from a read', async () => {
    const { store, fips } = await cloud(7);
    const dp = new FakeDataplane();
    const agent = agentFor(store, dp, 3);
    const apply = dp.apply.bind(dp);
    let calls = 0;
    dp.apply = async (plan) => {
      if (++calls === 2) throw new Error('kernel said no');
      return apply(plan);
    };
    const outcomes: ReconcileOutcome[] = [];
    agent.on('reconciled', (o: ReconcileOutcome) => outcomes.push(o));
    await agent.start();
    assert.match(outcomes[0]?.error ?? '', /kernel said no/);
    const statuses = await store.read((v) => fips.map((f) => v.get('floatingip', f.id)!.status));
    assert.ok(
      statuses.every((s) => s === 'ERROR'),
      statuses.join(),
    );
    agent.resyncAll('resync');
    await agent.sync();
    assert.equal(outcomes.at(-1)?.error, undefined);
    assert.equal(dp.routers.values().next().value!.inbound.size, 7);
    assert.equal((await activeIds(store, fips)).length, 7);
    await agent.stop();
  });
});
