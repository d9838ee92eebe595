/**
 * The SQLite store keeps answers that depend on routers, routers' ports, subnets and networks alone
 * (View.structural, see StructureMemo) while none of those changes: every change of one, by this process or
 * another one, must show in the next answer, nothing of a write that rolled back may, and the answers that use it
 * (routerFor, a delta's trust check) must follow. A VM's port is not one of them, unless a write makes it a
 * router's or a router's port a VM's.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import {
  addRouterInterface,
  createFloatingIp,
  createPort,
  createRouter,
  portsOfSubnetKey,
  quotaTx,
  routerFor,
  updateRouter,
  type IPv4,
  type Port,
  type View,
} from '../../src/model/index.js';
import { changedMappings } from '../../src/dataplane/index.js';
import { SqliteStore } from '../../src/store/index.js';
import { smallCloud } from '../support/model-fixture.js';

describe('SQLite store: answers kept while routers, ports, subnets and networks stay', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sfip-structure-memo-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let count = 0;

  /** A cloud on a file, a second store on that file (another process, such as an API worker), and a router. */
  async function twoProcesses() {
    const path = join(dir, `memo-${++count}.db`);
    const c = await smallCloud(path);
    const other = new SqliteStore({ path });
    const router = await c.store.update((tx) =>
      createRouter(tx, c.ctx, {
        name: 'r-other',
        namespace: 'qrouter-other',
        gatewayDevice: 'qg-o',
        externalGateway: { networkId: c.publicNet, externalFixedIps: [{ ipAddress: '203.0.113.9' }] },
      }),
    );
    /**
     * The ids of the private subnet's routers' ports (owner network:*, the kind of answer the memo may keep),
     * through the memo; `reads` counts the reads behind the answers.
     */
    let reads = 0;
    const subnetPorts = (v: View) =>
      v.structural!(`ports ${c.privateSubnet}`, () => {
        reads++;
        return v
          .lookup(portsOfSubnetKey(c.privateSubnet))
          .map((r) => v.get('port', r.id)!)
          .filter((p) => p.deviceOwner.startsWith('network:'))
          .map((p) => p.id)
          .sort();
      });
    /** A port on the private subnet, made an interface of the second router (by `store`'s process). */
    const addInterface = (store: SqliteStore, ipAddress: string) =>
      store.update((tx) => {
        const port = createPort(tx, c.ctx, { networkId: c.privateNet, fixedIps: [{ ipAddress }] });
        addRouterInterface(tx, c.ctx, router.id, { portId: port.id });
        return port.id;
      });
    const close = async () => {
      await other.close();
      await c.store.close();
    };
    return { c, other, router: router.id, subnetPorts, addInterface, reads: () => reads, close, path };
  }

  it("keeps answers for a project's own writes too: its quota-counting transaction passes them on", async () => {
    const t = await twoProcesses();
    try {
      const project = { ...t.c.ctx, isAdmin: false, projectId: 'tenant-a' };
      const first = await t.c.store.update((tx) => t.subnetPorts(quotaTx(tx, project)));
      assert.deepEqual(await t.c.store.update((tx) => t.subnetPorts(quotaTx(tx, project))), first);
      assert.equal(t.reads(), 1, 'the second asked the store, which kept the first answer');
    } finally {
      await t.close();
    }
  });

  it("keeps an answer across floating IP writes, and reads again after another process's port, router, subnet or network write", async () => {
    const t = await twoProcesses();
    try {
      const first = await t.c.store.read(t.subnetPorts);
      await t.other.update((tx) => createFloatingIp(tx, t.c.ctx, { floatingNetworkId: t.c.publicNet }));
      await t.c.store.update((tx) => createFloatingIp(tx, t.c.ctx, { floatingNetworkId: t.c.publicNet }));
      assert.deepEqual(await t.c.store.read(t.subnetPorts), first);
      assert.equal(t.reads(), 1, 'kept across floating IP writes');
      const port = await t.addInterface(t.other, '10.0.0.2');
      assert.deepEqual(
        await t.c.store.read(t.subnetPorts),
        [...first, port].sort(),
        "a router's port added there",
      );
      const writes = [
        () => t.other.update((tx) => updateRouter(tx, t.c.ctx, t.router, { name: 'renamed' })),
        () =>
          t.other.update((tx) => tx.put('subnet', { ...tx.get('subnet', t.c.privateSubnet)!, name: 'x' })),
        () => t.other.update((tx) => tx.put('network', { ...tx.get('network', t.c.privateNet)!, name: 'x' })),
      ];
      for (const write of writes) {
        const before = t.reads();
        await write();
        await t.c.store.read(t.subnetPorts);
        assert.equal(t.reads(), before + 1);
      }
    } finally {
      await t.close();
    }
  });

  it("checks the feed once per transaction: another process's port write during one shows in the next", async () => {
    const t = await twoProcesses();
    const raw = new Database(t.path);
    try {
      await t.c.store.read(t.subnetPorts);
      const during = await t.c.store.read((v) => {
        const before = t.subnetPorts(v);
        // Another connection commits a port write while this read is open: the read's snapshot does not show it,
        // so the memo may keep answering for the rest of this transaction without a second look at the feed.
        raw
          .prepare(
            "INSERT INTO changes (kind, id, op, at) VALUES ('port', 'written-meanwhile', 'put', 'now')",
          )
          .run();
        return [before, t.subnetPorts(v)];
      });
      assert.deepEqual(during[0], during[1]);
      assert.equal(t.reads(), 1, 'one transaction, one answer');
      await t.c.store.read(t.subnetPorts);
      assert.equal(t.reads(), 2, 'the next transaction saw the port write on the feed and read again');
    } finally {
      raw.close();
      await t.close();
    }
  });

  it('answers a transaction that wrote a port from that write, and forgets it when it rolls back', async () => {
    const t = await twoProcesses();
    try {
      const first = await t.c.store.read(t.subnetPorts);
      const failed = t.c.store.update((tx) => {
        const port = createPort(tx, t.c.ctx, {
          networkId: t.c.privateNet,
          fixedIps: [{ ipAddress: '10.0.0.2' }],
        });
        addRouterInterface(tx, t.c.ctx, t.router, { portId: port.id });
        assert.deepEqual(t.subnetPorts(tx), [...first, port.id].sort(), 'its own write');
        throw new Error('rolled back');
      });
      await assert.rejects(failed, /rolled back/);
      assert.deepEqual(await t.c.store.read(t.subnetPorts), first, 'nothing of the rolled-back port');
    } finally {
      await t.close();
    }
  });

  it("sees another process's port at a feed position that a rolled-back write of its own had used", async () => {
    const t = await twoProcesses();
    try {
      const fip = await t.c.store.update((tx) =>
        createFloatingIp(tx, t.c.ctx, { floatingNetworkId: t.c.publicNet }),
      );
      const first = await t.c.store.read(t.subnetPorts);
      // One write of another kind takes the next feed position and asks (as an association does), then rolls
      // back: the position is free again, and the other process's port, one write too, takes it.
      const failed = t.c.store.update((tx) => {
        tx.put('floatingip', { ...fip, description: 'x' });
        assert.deepEqual(t.subnetPorts(tx), first);
        throw new Error('rolled back');
      });
      await assert.rejects(failed, /rolled back/);
      await t.other.update((tx) => {
        const vm = tx.get('port', t.c.vm1)!;
        tx.put('port', {
          ...vm,
          id: 'port-written-by-the-other-process',
          deviceOwner: 'network:router_interface',
          deviceId: t.router,
          macAddress: 'fa:16:3e:00:00:99',
          fixedIps: [{ subnetId: t.c.privateSubnet, ipAddress: '10.0.0.2' as IPv4 }],
        });
      });
      assert.deepEqual(
        await t.c.store.read(t.subnetPorts),
        [...first, 'port-written-by-the-other-process'].sort(),
      );
    } finally {
      await t.close();
    }
  });

  it("keeps answers across VMs' ports, and reads again when a write makes a port a router's or a VM's", async () => {
    const t = await twoProcesses();
    try {
      const first = await t.c.store.read(t.subnetPorts);
      const vmPort = (ipAddress: string) =>
        t.other.update((tx) =>
          createPort(tx, t.c.ctx, { networkId: t.c.privateNet, fixedIps: [{ ipAddress }] }),
        );
      // A fill: each floating IP comes with a new VM port, on the subnet, even one naming a router as its device.
      const vm = await vmPort('10.0.0.2');
      await t.c.store.update((tx) => tx.put('port', { ...tx.get('port', vm.id)!, deviceId: t.router }));
      const gone = await vmPort('10.0.0.3');
      await t.other.update((tx) => tx.delete('port', gone.id));
      assert.deepEqual(await t.c.store.read(t.subnetPorts), first);
      assert.equal(t.reads(), 1, "kept across VMs' ports written by either process");
      const writes = [
        // A VM's port becomes a router's.
        () =>
          t.other.update((tx) =>
            tx.put('port', { ...tx.get('port', vm.id)!, deviceOwner: 'network:router_interface' }),
          ),
        // And back: before the write it was a router's.
        () =>
          t.other.update((tx) => tx.put('port', { ...tx.get('port', vm.id)!, deviceOwner: 'compute:nova' })),
      ];
      const answers: string[][] = [];
      for (const write of writes) {
        const before = t.reads();
        await write();
        answers.push(await t.c.store.read(t.subnetPorts));
        assert.equal(t.reads(), before + 1);
      }
      assert.deepEqual(answers, [[...first, vm.id].sort(), first]);
      // A router's port deleted.
      const iface = await t.addInterface(t.other, '10.0.0.4');
      assert.deepEqual(await t.c.store.read(t.subnetPorts), [...first, iface].sort());
      await t.other.update((tx) => tx.delete('port', iface));
      assert.deepEqual(await t.c.store.read(t.subnetPorts), first);
    } finally {
      await t.close();
    }
  });

  it("routerFor follows another process's interfaces", async () => {
    const t = await twoProcesses();
    try {
      const find = (v: View) => routerFor(v, t.c.publicNet, t.c.privateSubnet);
      assert.equal(await t.c.store.read(find), t.c.router);
      const iface = await t.other.update((tx) => {
        const port = createPort(tx, t.c.ctx, {
          networkId: t.c.privateNet,
          fixedIps: [{ ipAddress: '10.0.0.2' }],
        });
        addRouterInterface(tx, t.c.ctx, t.router, { portId: port.id });
        return port.id;
      });
      assert.equal(await t.c.store.read(find), [t.c.router, t.router].sort()[0], 'the lower id of the two');
      // The first router's interface taken over by another project (no admin): only the second router remains.
      await t.other.update((tx) => {
        const own = (tx.list('port') as Port[]).find(
          (p) => p.deviceId === t.c.router && p.deviceOwner === 'network:router_interface',
        )!;
        tx.put('port', { ...own, projectId: 'someone-else', adminAttached: false });
      });
      assert.equal(await t.c.store.read(find), t.router);
      await t.other.update((tx) => tx.put('port', { ...tx.get('port', iface)!, deviceId: 'nothing' }));
      assert.equal(await t.c.store.read(find), undefined);
    } finally {
      await t.close();
    }
  });

  it("a delta's trust check follows another process's interface change", async () => {
    const t = await twoProcesses();
    try {
      const fip = await t.c.store.update((tx) =>
        createFloatingIp(tx, t.c.ctx, { floatingNetworkId: t.c.publicNet, portId: t.c.vm1 }),
      );
      const delta = (v: View) => changedMappings(v, v.get('router', t.c.router)!, [fip.id]);
      const mapped = await t.c.store.read(delta);
      assert.equal(mapped?.mappings.get(fip.id)?.fixedIp, '10.0.0.11');
      assert.ok(Object.isFrozen(mapped?.structure), 'the kept structure is shared, so frozen');
      assert.deepEqual(mapped?.structure.internalCidrs, ['10.0.0.0/24']);
      await t.other.update((tx) => {
        const own = (tx.list('port') as Port[]).find(
          (p) => p.deviceId === t.c.router && p.deviceOwner === 'network:router_interface',
        )!;
        tx.put('port', { ...own, projectId: 'someone-else', adminAttached: false });
      });
      assert.equal(await t.c.store.read(delta), null, 'the subnet no longer joins the router: no delta');
    } finally {
      await t.close();
    }
  });
});
