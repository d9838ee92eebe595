import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { FakeDataplane, type DesiredRouter } from '../../src/dataplane/index.js';
import {
  addRouterInterface,
  createFloatingIp,
  createSubnet,
  deleteFloatingIp,
  setFloatingIpStatus,
  updateFloatingIp,
  updateRouter,
  floatingIpStatusPatch,
} from '../../src/model/index.js';
import type { Store } from '../../src/store/index.js';
import { smallCloud, type SmallCloud } from '../support/model-fixture.js';
import { fakeAgent } from '../support/fake-agent.js';

const fipStatus = (c: SmallCloud, id: string) => c.store.read((v) => v.get('floatingip', id)!);

describe('agent', () => {
  it('programs a new floating IP and only then reports it ACTIVE', async () => {
    const c = await smallCloud();
    const dp = new FakeDataplane();
    const agent = fakeAgent(c.store, dp);
    await agent.start();
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    assert.equal((await fipStatus(c, fip.id)).status, 'DOWN');
    await agent.sync();
    const state = dp.routers.get(`qrouter-1/${c.router}`)!;
    assert.deepEqual([...state.inbound], [[fip.floatingIpAddress, '10.0.0.11']]);
    assert.deepEqual([...state.addresses], [fip.floatingIpAddress]);
    assert.equal((await fipStatus(c, fip.id)).status, 'ACTIVE');
    await agent.stop();
  });

  it('runs no kernel chores (conntrack cleanup, gratuitous ARP) for a dataplane without a kernel', async () => {
    // The fake's router namespace does not exist on this host: a conntrack cleanup or a GARP sender started
    // in it would fail, making the router ERROR or logging a warning on every change.
    const c = await smallCloud();
    const dp = new FakeDataplane();
    const lines: string[] = [];
    const agent = fakeAgent(c.store, dp, {
      log: pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) }),
      garp: true,
      conntrackCleanup: true,
    });
    await agent.start();
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    await agent.sync();
    await c.store.update((tx) => updateFloatingIp(tx, c.ctx, fip.id, { portId: c.vm2 }));
    await agent.sync();
    await agent.garp.whenIdle();
    const now = await fipStatus(c, fip.id);
    assert.deepEqual([now.status, now.statusReason, now.fixedIpAddress], ['ACTIVE', '', '10.0.0.12']);
    assert.deepEqual(
      agent.routerOutcomes().filter((o) => o.error),
      [],
    );
    assert.deepEqual(lines, []);
    await agent.stop();
  });

  it('reports ERROR with the reason when applying fails, and recovers on the next change', async () => {
    const c = await smallCloud();
    const dp = new FakeDataplane();
    const agent = fakeAgent(c.store, dp);
    await agent.start();
    // Twice: the delta, then the full pass it falls back to.
    dp.failNextApply = new Error('nft: Could not process rule: No space left on device');
    dp.failApplies = 2;
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    await agent.sync();
    const failed = await fipStatus(c, fip.id);
    assert.equal(failed.status, 'ERROR');
    assert.match(failed.statusReason, /No space left/);
    agent.resyncAll('test');
    await agent.sync();
    const ok = await fipStatus(c, fip.id);
    assert.deepEqual([ok.status, ok.statusReason], ['ACTIVE', '']);
    await agent.stop();
  });

  it('reports ERROR when the router namespace is missing', async () => {
    const c = await smallCloud();
    const dp = new FakeDataplane();
    dp.missingNamespaces.add('qrouter-1');
    const agent = fakeAgent(c.store, dp);
    await agent.start();
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    await agent.sync();
    assert.match((await fipStatus(c, fip.id)).statusReason, /namespace qrouter-1 does not exist/);
    await agent.stop();
  });

  it('reports the router itself ERROR with the reason while its namespace is missing, and ACTIVE once back', async () => {
    const c = await smallCloud();
    const dp = new FakeDataplane();
    dp.missingNamespaces.add('qrouter-1');
    const agent = fakeAgent(c.store, dp);
    let passes = 0;
    agent.on('reconciled', () => passes++);
    await agent.start();
    await agent.sync();
    const router = () => c.store.read((v) => v.get('router', c.router)!);
    const failed = await router();
    assert.equal(failed.status, 'ERROR');
    assert.match(failed.statusReason ?? '', /namespace qrouter-1 does not exist/);
    // Its own status write comes back on the change feed: that must not start another pass.
    const before = passes;
    await agent.sync();
    assert.equal(passes, before, 'the status report woke the agent');
    dp.missingNamespaces.delete('qrouter-1');
    agent.resyncAll('test');
    await agent.sync();
    const ok = await router();
    assert.deepEqual([ok.status, ok.statusReason], ['ACTIVE', '']);
    await agent.stop();
  });

  it('keeps a router ACTIVE with the backend’s note (the fast path on a kernel without it), cleared when it no longer applies', async () => {
    const c = await smallCloud();
    const dp = new FakeDataplane();
    const asked: (boolean | undefined)[] = [];
    // As the eBPF backend on a kernel without bpf_check_mtu: a note for routers that want the fast path.
    Object.assign(dp, {
      routerNote: (d: DesiredRouter) => {
        asked.push(d.fastPath);
        return Promise.resolve(d.fastPath === false ? '' : 'fast path unavailable: test kernel');
      },
    });
    await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    const agent = fakeAgent(c.store, dp);
    await agent.start();
    await agent.sync();
    const router = () => c.store.read((v) => v.get('router', c.router)!);
    const noted = await router();
    assert.deepEqual([noted.status, noted.statusReason], ['ACTIVE', 'fast path unavailable: test kernel']);
    await c.store.update((tx) => updateRouter(tx, c.ctx, c.router, { fastPath: false }));
    await agent.sync();
    const off = await router();
    assert.deepEqual([off.status, off.statusReason], ['ACTIVE', '']);
    assert.deepEqual([asked[0], asked.at(-1)], [true, false], 'the desired state carries the option');
    await agent.stop();
  });

  it('changes nothing when restarted over a kernel that is already right', async () => {
    const c = await smallCloud();
    const dp = new FakeDataplane();
    const first = fakeAgent(c.store, dp);
    await first.start();
    await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    await first.sync();
    await first.stop();
    const applies = dp.applied.length;
    const second = fakeAgent(c.store, dp);
    await second.start();
    assert.equal(dp.applied.length, applies, 'a restart must not re-apply what the kernel holds');
    assert.ok(second.routerOutcomes().every((o) => !o.changed && !o.error));
    await second.stop();
  });

  it('ignores status-only changes, and re-applies after drift on resync', async () => {
    const c = await smallCloud();
    const dp = new FakeDataplane();
    const agent = fakeAgent(c.store, dp);
    await agent.start();
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    await agent.sync();
    const applies = dp.applied.length;
    await c.store.update((tx) => updateFloatingIp(tx, c.ctx, fip.id, { description: 'just a label' }));
    await agent.sync();
    assert.equal(dp.applied.length, applies, 'a description change needs no kernel work');
    dp.routers.clear(); // someone flushed the kernel
    agent.resyncAll('resync');
    await agent.sync();
    assert.equal(dp.applied.length, applies + 1);
    assert.equal(dp.routers.get(`qrouter-1/${c.router}`)?.inbound.size, 1);
    await agent.stop();
  });

  it('skips status-only changes on the feed without reading the floating IP, whoever wrote them', async () => {
    const c = await smallCloud();
    const dp = new FakeDataplane();
    // Counts the floating IPs the agent reads from the store.
    let fipReads = 0;
    const inner = c.store;
    const store: Store = {
      description: inner.description,
      tokens: inner.tokens,
      read: (fn) =>
        inner.read((view) =>
          fn({
            ...view,
            get: (kind, id) => {
              if (kind === 'floatingip') fipReads++;
              return view.get(kind, id);
            },
          }),
        ),
      update: (fn) => inner.update(fn),
      updateStatuses: (kind, patches, updatedAt) => inner.updateStatuses(kind, patches, updatedAt),
      changesSince: (seq, limit) => inner.changesSince(seq, limit),
      onChange: (listener) => inner.onChange(listener),
      close: () => inner.close(),
    };
    const agent = fakeAgent(store, dp);
    await agent.start();
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    await agent.sync();
    const active = await fipStatus(c, fip.id);
    assert.equal(active.status, 'ACTIVE');
    const applies = dp.applied.length;
    // Another node's agent (say, a standby) reports a status for the same association.
    fipReads = 0;
    await c.store.updateStatuses(
      'floatingip',
      [floatingIpStatusPatch(active, 'ERROR', 'seen elsewhere')],
      c.ctx.now(),
    );
    await agent.sync();
    assert.equal(fipReads, 0, 'a status-only change is not read');
    assert.equal(dp.applied.length, applies);
    // The same status written as an ordinary change is read (the counter sees reads), and still needs no pass.
    await c.store.update((tx) => setFloatingIpStatus(tx, c.ctx, fip.id, active, 'ACTIVE', ''));
    await agent.sync();
    assert.ok(fipReads > 0, 'an ordinary change is read');
    assert.equal(dp.applied.length, applies);
    await agent.stop();
  });

  it('rebuilds when the router gains an interface, even between full reads of the kernel', async () => {
    const c = await smallCloud();
    const dp = new FakeDataplane();
    const agent = fakeAgent(c.store, dp);
    await agent.start();
    await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    await agent.sync();
    const subnet = await c.store.update((tx) =>
      createSubnet(tx, c.ctx, { networkId: c.privateNet, cidr: '10.7.0.0/24' }),
    );
    await c.store.update((tx) => addRouterInterface(tx, c.ctx, c.router, { subnetId: subnet.id }));
    await agent.sync();
    const last = dp.applied[dp.applied.length - 1]!;
    assert.equal(last.rebuild, true);
    assert.match(dp.routers.get(`qrouter-1/${c.router}`)!.structure, /10\.7\.0\.0\/24/);
    await agent.stop();
  });

  it('removes state from the old place when a router moves, and everything when the mapping goes', async () => {
    const c = await smallCloud();
    const dp = new FakeDataplane();
    const agent = fakeAgent(c.store, dp);
    await agent.start();
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    await agent.sync();
    await c.store.update((tx) => updateRouter(tx, c.ctx, c.router, { namespace: 'qrouter-moved' }));
    await agent.sync();
    assert.deepEqual([...dp.routers.keys()], [`qrouter-moved/${c.router}`]);
    await c.store.update((tx) => deleteFloatingIp(tx, c.ctx, fip.id));
    await agent.sync();
    assert.equal(dp.routers.get(`qrouter-moved/${c.router}`)?.inbound.size, 0);
    await agent.stop();
  });

  it('records where each router is programmed after a full pass, and leaves the record alone after a delta', async () => {
    const c = await smallCloud();
    const dp = new FakeDataplane();
    const dir = mkdtempSync(join(tmpdir(), 'sfip-agent-record-'));
    const path = join(dir, 'agent-routers.json');
    const recorded = () =>
      (JSON.parse(readFileSync(path, 'utf8')) as { routers: { namespace: string }[] }).routers.map(
        (r) => r.namespace,
      );
    const agent = fakeAgent(c.store, dp, { programmedRoutersPath: path });
    try {
      await agent.start();
      assert.deepEqual(recorded(), ['qrouter-1']);
      // Removed, so that a rewrite by the delta below would show.
      rmSync(path);
      await c.store.update((tx) =>
        createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
      );
      await agent.sync();
      assert.equal(existsSync(path), false);
      // A move is a full pass that programs the router elsewhere: the record must follow it.
      await c.store.update((tx) => updateRouter(tx, c.ctx, c.router, { namespace: 'qrouter-moved' }));
      await agent.sync();
      assert.deepEqual(recorded(), ['qrouter-moved']);
    } finally {
      await agent.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
