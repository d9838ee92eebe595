/**
 * routerFor (Neutron's rule for a floating IP's router): the router with a gateway on the floating network and a
 * trusted interface on the fixed IP's subnet, the lowest id when several have one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addRouterInterface,
  createPort,
  createRouter,
  portsOfSubnetKey,
  routerFor,
  routersOfNetworkKey,
  type Port,
  type Tx,
  type View,
} from '../../src/model/index.js';
import { adminContext, smallCloud } from '../support/model-fixture.js';

/** A second router on the cloud's external network, with no interface yet. */
function otherRouter(c: Awaited<ReturnType<typeof smallCloud>>) {
  return c.store.update((tx: Tx) =>
    createRouter(tx, c.ctx, {
      name: 'r-other',
      namespace: 'qrouter-other',
      gatewayDevice: 'qg-o',
      externalGateway: { networkId: c.publicNet, externalFixedIps: [{ ipAddress: '203.0.113.9' }] },
    }),
  );
}

describe('routerFor', () => {
  it('finds the router with an interface on the subnet among several on the network', async () => {
    const c = await smallCloud();
    const other = await otherRouter(c);
    assert.equal(
      await c.store.read((v) => routerFor(v, c.publicNet, c.privateSubnet)),
      c.router,
      'not the router without an interface there',
    );
    // A second interface on the same subnet (another address): both qualify, the lower id wins.
    await c.store.update((tx) => {
      const port = createPort(tx, c.ctx, { networkId: c.privateNet, fixedIps: [{ ipAddress: '10.0.0.2' }] });
      addRouterInterface(tx, c.ctx, other.id, { portId: port.id });
    });
    assert.equal(
      await c.store.read((v) => routerFor(v, c.publicNet, c.privateSubnet)),
      [c.router, other.id].sort()[0],
    );
  });

  it('finds the same router through the stored text as through parsed documents', async () => {
    const c = await smallCloud();
    const other = await otherRouter(c);
    await c.store.update((tx) => {
      const port = createPort(tx, c.ctx, { networkId: c.privateNet, fixedIps: [{ ipAddress: '10.0.0.2' }] });
      addRouterInterface(tx, c.ctx, other.id, { portId: port.id });
    });
    const both = (v: View) => {
      const { findDocuments, devicesWithPort, ...parsedOnly } = v;
      assert.ok(findDocuments, 'the SQLite store offers the text');
      assert.ok(devicesWithPort, 'and the routers with a port on a subnet');
      return [
        routerFor(v, c.publicNet, c.privateSubnet),
        routerFor(parsedOnly, c.publicNet, c.privateSubnet),
      ];
    };
    assert.deepEqual(await c.store.read(both), [
      [c.router, other.id].sort()[0],
      [c.router, other.id].sort()[0],
    ]);
    assert.deepEqual(
      await c.store.read((v) => {
        const { findDocuments: _text, devicesWithPort: _devices, ...parsedOnly } = v;
        return [
          routerFor(v, c.publicNet, 'no-such-subnet'),
          routerFor(parsedOnly, c.publicNet, 'no-such-subnet'),
        ];
      }),
      [undefined, undefined],
    );
  });

  it('ignores an interface port of another project that no admin attached', async () => {
    const c = await smallCloud();
    await c.store.update((tx) => {
      const ports = tx.list('port') as Port[];
      const iface = ports.find(
        (p) => p.deviceId === c.router && p.deviceOwner === 'network:router_interface',
      )!;
      tx.put('port', { ...iface, projectId: adminContext('someone-else').projectId, adminAttached: false });
    });
    assert.equal(await c.store.read((v) => routerFor(v, c.publicNet, c.privateSubnet)), undefined);
  });

  it('names, in one query, the routers on a network that own a port on a subnet', async () => {
    const c = await smallCloud();
    const other = await otherRouter(c);
    const devices = (v: View) =>
      v.devicesWithPort!(routersOfNetworkKey(c.publicNet), portsOfSubnetKey(c.privateSubnet));
    assert.deepEqual(await c.store.read(devices), [c.router], 'not the router without a port there');
    // A port of the other router on the subnet, even one that is no interface: routerFor checks what it is.
    await c.store.update((tx) => {
      const port = createPort(tx, c.ctx, { networkId: c.privateNet, fixedIps: [{ ipAddress: '10.0.0.2' }] });
      tx.put('port', { ...port, deviceId: other.id, deviceOwner: 'compute:nova' });
    });
    assert.deepEqual(await c.store.read(devices), [c.router, other.id].sort());
    assert.equal(await c.store.read((v) => routerFor(v, c.publicNet, c.privateSubnet)), c.router);
    assert.deepEqual(
      await c.store.read((v) =>
        v.devicesWithPort!(routersOfNetworkKey(c.privateNet), portsOfSubnetKey(c.privateSubnet)),
      ),
      [],
      'no router has its gateway on the private network',
    );
  });

  it('finds none for a subnet that does not exist or a network without routers', async () => {
    const c = await smallCloud();
    assert.equal(await c.store.read((v) => routerFor(v, c.publicNet, 'no-such-subnet')), undefined);
    assert.equal(await c.store.read((v) => routerFor(v, c.privateNet, c.privateSubnet)), undefined);
  });
});
