/**
 * The SQLite store keeps routerFor's query answers (View.devicesWithPort) while no router or port changes (see
 * DeviceMemo): every change of either, by this process or another one, must show in the next answer, and so
 * must nothing of a write that rolled back.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import {
  createFloatingIp,
  createPort,
  createRouter,
  portsOfDeviceKey,
  portsOfSubnetKey,
  routersOfNetworkKey,
  updateRouter,
  type IPv4,
  type View,
} from '../../src/model/index.js';
import { SqliteStore } from '../../src/store/index.js';
import { smallCloud } from '../support/model-fixture.js';

describe('SQLite store: routerFor answers kept while routers and ports stay', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sfip-device-memo-'));
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
    const devices = (v: View) =>
      v.devicesWithPort!(routersOfNetworkKey(c.publicNet), portsOfSubnetKey(c.privateSubnet));
    /** A port of the second router on the private subnet, written by `store`. */
    const portOfOther = (store: SqliteStore, ipAddress: string) =>
      store.update((tx) => {
        const port = createPort(tx, c.ctx, { networkId: c.privateNet, fixedIps: [{ ipAddress }] });
        tx.put('port', { ...port, deviceId: router.id, deviceOwner: 'compute:nova' });
        return port.id;
      });
    const close = async () => {
      await other.close();
      await c.store.close();
    };
    return { c, other, router: router.id, devices, portOfOther, close };
  }

  it("sees another process's port and router changes", async () => {
    const t = await twoProcesses();
    try {
      assert.deepEqual(await t.c.store.read(t.devices), [t.c.router]);
      // Floating IP writes in between (the feed moves on without a router or port row).
      await t.other.update((tx) => createFloatingIp(tx, t.c.ctx, { floatingNetworkId: t.c.publicNet }));
      assert.deepEqual(await t.c.store.read(t.devices), [t.c.router]);
      await t.portOfOther(t.other, '10.0.0.2');
      assert.deepEqual(await t.c.store.read(t.devices), [t.c.router, t.router].sort(), 'a port added there');
      await t.other.update((tx) => updateRouter(tx, t.c.ctx, t.router, { externalGateway: null }));
      assert.deepEqual(await t.c.store.read(t.devices), [t.c.router], 'a router off the network');
    } finally {
      await t.close();
    }
  });

  it('answers a transaction that wrote a port from that write, and forgets it when it rolls back', async () => {
    const t = await twoProcesses();
    try {
      assert.deepEqual(await t.c.store.read(t.devices), [t.c.router]);
      const failed = t.c.store.update((tx) => {
        const port = createPort(tx, t.c.ctx, {
          networkId: t.c.privateNet,
          fixedIps: [{ ipAddress: '10.0.0.2' }],
        });
        tx.put('port', { ...port, deviceId: t.router, deviceOwner: 'compute:nova' });
        assert.deepEqual(t.devices(tx), [t.c.router, t.router].sort(), 'its own write');
        throw new Error('rolled back');
      });
      await assert.rejects(failed, /rolled back/);
      assert.deepEqual(await t.c.store.read(t.devices), [t.c.router], 'nothing of the rolled-back port');
    } finally {
      await t.close();
    }
  });

  it("sees another process's port at a feed position that a rolled-back write of its own had used", async () => {
    const t = await twoProcesses();
    try {
      assert.deepEqual(await t.c.store.read(t.devices), [t.c.router]);
      // One write that is not a router or a port takes the next feed position and asks (as an association does),
      // then rolls back: the position is free again, and the other process's port, one write too, takes it.
      const failed = t.c.store.update((tx) => {
        tx.put('network', { ...tx.get('network', t.c.privateNet)!, name: 'renamed' });
        assert.deepEqual(t.devices(tx), [t.c.router]);
        throw new Error('rolled back');
      });
      await assert.rejects(failed, /rolled back/);
      await t.other.update((tx) => {
        const vm = tx.get('port', t.c.vm1)!;
        tx.put('port', {
          ...vm,
          id: 'port-of-the-other-router',
          macAddress: 'fa:16:3e:00:00:99',
          fixedIps: [{ subnetId: t.c.privateSubnet, ipAddress: '10.0.0.2' as IPv4 }],
          deviceId: t.router,
        });
      });
      assert.deepEqual(await t.c.store.read(t.devices), [t.c.router, t.router].sort());
    } finally {
      await t.close();
    }
  });

  it('answers from what it kept while the feed shows no router or port change', async () => {
    const t = await twoProcesses();
    const path = join(dir, `memo-${count}.db`);
    const raw = new Database(path);
    try {
      const portId = await t.portOfOther(t.c.store, '10.0.0.2');
      assert.deepEqual(await t.c.store.read(t.devices), [t.c.router, t.router].sort());
      // The port's device key removed behind the feed's back: a query would no longer find the second router.
      raw
        .prepare("DELETE FROM index_keys WHERE key = ? AND kind = 'port' AND id = ?")
        .run(portsOfDeviceKey(t.router), portId);
      await t.other.update((tx) => createFloatingIp(tx, t.c.ctx, { floatingNetworkId: t.c.publicNet }));
      assert.deepEqual(await t.c.store.read(t.devices), [t.c.router, t.router].sort(), 'kept');
      // Any port change on the feed, even of another port, and the query runs again.
      await t.other.update((tx) =>
        createPort(tx, t.c.ctx, { networkId: t.c.privateNet, fixedIps: [{ ipAddress: '10.0.0.3' }] }),
      );
      assert.deepEqual(await t.c.store.read(t.devices), [t.c.router], 'read again');
    } finally {
      raw.close();
      await t.close();
    }
  });
});
