/**
 * routerIntent reads the ports of a router with many floating IPs ahead, through their subnet's index: the intent
 * must be exactly what port-by-port reads give, a port outside the router's subnets included.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { routerIntent } from '../../src/dataplane/index.js';
import {
  addRouterInterface,
  createFloatingIp,
  createNetwork,
  createPort,
  createRouter,
  createSubnet,
} from '../../src/model/index.js';
import type { Context, Tx, View } from '../../src/model/index.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { adminContext, smallCloud } from '../support/model-fixture.js';

/** A router whose gateway is on `publicCidr` (its .2) and whose interface is on a private `privateCidr`. */
function routerBetween(tx: Tx, ctx: Context, publicCidr: string, privateCidr: string) {
  const pub = createNetwork(tx, ctx, { name: 'public', external: true });
  const base = publicCidr.slice(0, publicCidr.lastIndexOf('.'));
  createSubnet(tx, ctx, { networkId: pub.id, cidr: publicCidr, gatewayIp: `${base}.1` });
  const priv = createNetwork(tx, ctx, { name: 'private' });
  const privSub = createSubnet(tx, ctx, { networkId: priv.id, cidr: privateCidr });
  const router = createRouter(tx, ctx, {
    name: 'r1',
    namespace: 'qrouter-1',
    gatewayDevice: 'qg-1',
    externalGateway: { networkId: pub.id, externalFixedIps: [{ ipAddress: `${base}.2` }] },
  });
  addRouterInterface(tx, ctx, router.id, { subnetId: privSub.id });
  return { pub: pub.id, priv: priv.id, router: router.id };
}

/** More floating IPs than the read-ahead's threshold (256), and one whose port is on a subnet not attached. */
const COUNT = 300;

describe('routerIntent with ports read ahead', () => {
  it('maps every floating IP to its own port’s MAC and refuses the one outside the router’s subnets', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const ctx = adminContext();
    const made = await store.update((tx) => {
      const { pub, priv, router } = routerBetween(tx, ctx, '198.51.100.0/23', '10.0.0.0/22');
      const other = createNetwork(tx, ctx, { name: 'elsewhere' });
      createSubnet(tx, ctx, { networkId: other.id, cidr: '10.9.0.0/24' });
      const macs = new Map<string, string>();
      for (let i = 0; i < COUNT; i++) {
        const port = createPort(tx, ctx, { networkId: priv });
        const fip = createFloatingIp(tx, ctx, { floatingNetworkId: pub, portId: port.id });
        macs.set(fip.floatingIpAddress, port.macAddress);
      }
      // A floating IP mapped to a port on a subnet the router has no interface on: a store written another way.
      // The trust check must refuse it, its port read one by one.
      const stray = createPort(tx, ctx, { networkId: other.id });
      const strayFip = createFloatingIp(tx, ctx, { floatingNetworkId: pub });
      tx.put('floatingip', {
        ...strayFip,
        portId: stray.id,
        fixedIpAddress: stray.fixedIps[0]!.ipAddress,
        routerId: router,
      });
      return { router, macs, stray: strayFip.id };
    });
    const intent = await store.read((v) => routerIntent(v, v.get('router', made.router)!));
    assert.equal(intent.desired?.mappings.length, COUNT);
    for (const m of intent.desired!.mappings)
      assert.equal(m.fixedMac, made.macs.get(m.floatingIp), m.floatingIp);
    assert.deepEqual(
      intent.refused.map((r) => [r.floatingIp.id, /is not attached to router/.test(r.reason)]),
      [[made.stray, true]],
    );
    await store.close();
  });

  it('refuses both floating IPs of a floating address stored twice, naming both, and maps the rest', async () => {
    const c = await smallCloud();
    const { store } = c;
    const made = await store.update((tx) => {
      const vm3 = createPort(tx, c.ctx, { networkId: c.privateNet }).id;
      const fips = [c.vm1, c.vm2, vm3].map((portId) =>
        createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId }),
      );
      return { router: c.router, fips };
    });
    // A store written another way (SQLite's address index refuses it; a listing is what the agent passes): the
    // third floating IP holds the first one's address.
    const listed = [
      ...made.fips.slice(0, 2),
      { ...made.fips[2]!, floatingIpAddress: made.fips[0]!.floatingIpAddress },
    ];
    const intent = await store.read((v) => routerIntent(v, v.get('router', made.router)!, listed));
    const [first, second, third] = made.fips.map((f) => f.id);
    assert.deepEqual(
      intent.floatingIps.map((f) => f.id),
      [second],
    );
    assert.deepEqual(intent.refused.map((r) => r.floatingIp.id).sort(), [first, third].sort());
    for (const r of intent.refused)
      assert.match(
        r.reason,
        new RegExp(
          `floating IP .* is mapped twice .*\\(floating IPs (${first}, ${third}|${third}, ${first})\\)`,
        ),
      );
    assert.equal(intent.desired?.mappings.length, 1);
    await store.close();
  });

  it('checks ports read ahead over several pages, reading none of them again one by one', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const ctx = adminContext();
    // More ports than one page of the read ahead (2,000).
    const count = 2_100;
    const made = await store.update((tx) => {
      const { pub, priv, router } = routerBetween(tx, ctx, '198.51.96.0/20', '10.0.0.0/20');
      const macs = new Map<string, string>();
      for (let i = 0; i < count; i++) {
        const port = createPort(tx, ctx, { networkId: priv });
        const fip = createFloatingIp(tx, ctx, { floatingNetworkId: pub, portId: port.id });
        macs.set(fip.floatingIpAddress, port.macAddress);
      }
      return { router, macs };
    });
    let portGets = 0;
    const intent = await store.read((v) => {
      const counted: View = {
        get: ((kind: 'port', id: string) => {
          if (kind === 'port') portGets++;
          return v.get(kind, id);
        }) as View['get'],
        list: v.list.bind(v),
        lookup: v.lookup.bind(v),
        count: v.count.bind(v),
        find: v.find.bind(v),
        range: v.range.bind(v),
        ...(v.rangeDocuments && { rangeDocuments: v.rangeDocuments.bind(v) }),
      };
      return routerIntent(counted, v.get('router', made.router)!);
    });
    assert.equal(intent.desired?.mappings.length, count);
    for (const m of intent.desired!.mappings)
      assert.equal(m.fixedMac, made.macs.get(m.floatingIp), m.floatingIp);
    // The router's own ports alone (its interface and its gateway, found through its device index): a port of a
    // page the read ahead skipped would be read here one by one.
    assert.equal(portGets, 2);
    await store.close();
  });
});
