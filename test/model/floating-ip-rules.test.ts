import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createFloatingIp,
  createNetwork,
  createPort,
  createSubnet,
  deletePort,
  removeRouterInterface,
  setFloatingIpStatus,
  SfipError,
  updateFloatingIp,
  updateRouter,
  withFloatingIpStatus,
  applyStatusPatch,
  floatingIpStatusPatch,
  type Tx,
} from '../../src/model/index.js';
import { smallCloud, type SmallCloud } from '../support/model-fixture.js';
import { dumpStore } from '../support/store-dump.js';

/** Runs a model operation that must fail, and checks the error and that the store did not change. */
async function rejects(
  cloud: SmallCloud,
  op: (tx: Tx) => unknown,
  type: string,
  status: number,
  mentions: string[],
) {
  const before = await dumpStore(cloud.store);
  await assert.rejects(cloud.store.update(op), (e: unknown) => {
    assert.ok(e instanceof SfipError, `expected SfipError, got ${String(e)}`);
    assert.equal(e.type, type, e.message);
    assert.equal(e.status, status);
    for (const m of mentions) assert.ok(e.message.includes(m), `"${e.message}" should mention ${m}`);
    return true;
  });
  assert.equal(await dumpStore(cloud.store), before, 'a rejected operation changed the store');
}

describe('floating IP rules', () => {
  it('allocates from the pool, never twice, and reports exhaustion', async () => {
    const c = await smallCloud();
    const got = [];
    for (let i = 0; i < 3; i++) {
      got.push(
        (await c.store.update((tx) => createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet })))
          .floatingIpAddress,
      );
    }
    assert.deepEqual(got, ['203.0.113.4', '203.0.113.5', '203.0.113.6']);
    await rejects(
      c,
      (tx) => createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet }),
      'ExternalIpAddressExhausted',
      400,
      [c.publicNet],
    );
  });

  it('takes a requested address only inside the pool, never network, broadcast, gateway or taken', async () => {
    const c = await smallCloud();
    const create = (address: string) => (tx: Tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, floatingIpAddress: address });
    await rejects(c, create('203.0.113.0'), 'BadRequest', 400, ['203.0.113.0']);
    await rejects(c, create('203.0.113.15'), 'BadRequest', 400, ['203.0.113.15']);
    await rejects(c, create('203.0.113.1'), 'BadRequest', 400, ['203.0.113.1', 'gateway']);
    await rejects(c, create('203.0.113.9'), 'BadRequest', 400, ['203.0.113.9', 'outside']);
    await rejects(c, create('198.51.100.5'), 'BadRequest', 400, ['198.51.100.5']);
    await rejects(c, create('203.0.113.05'), 'InvalidInput', 400, ['203.0.113.05']);
    await rejects(c, create('203.0.113.5/32'), 'InvalidInput', 400, ['203.0.113.5/32']);
    await c.store.update(create('203.0.113.5'));
    await rejects(c, create('203.0.113.5'), 'IpAddressAlreadyAllocated', 409, ['203.0.113.5']);
  });

  it('refuses a network that is not external, or does not exist', async () => {
    const c = await smallCloud();
    await rejects(
      c,
      (tx) => createFloatingIp(tx, c.ctx, { floatingNetworkId: c.privateNet }),
      'BadRequest',
      400,
      [c.privateNet, 'external'],
    );
    await rejects(
      c,
      (tx) => createFloatingIp(tx, c.ctx, { floatingNetworkId: 'nope' }),
      'NetworkNotFound',
      404,
      ['nope'],
    );
  });

  it('derives the router, and gives a fixed IP at most one floating IP per external network', async () => {
    const c = await smallCloud();
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    assert.equal(fip.routerId, c.router);
    assert.equal(fip.fixedIpAddress, '10.0.0.11');
    assert.equal(fip.status, 'DOWN');
    await rejects(
      c,
      (tx) => createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
      'FloatingIPPortAlreadyAssociated',
      409,
      ['10.0.0.11', fip.floatingIpAddress],
    );
    const other = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet }),
    );
    await rejects(
      c,
      (tx) => updateFloatingIp(tx, c.ctx, other.id, { portId: c.vm1 }),
      'FloatingIPPortAlreadyAssociated',
      409,
      ['10.0.0.11'],
    );
    await rejects(
      c,
      (tx) => updateFloatingIp(tx, c.ctx, other.id, { portId: c.vm2, fixedIpAddress: '10.0.0.99' }),
      'BadRequest',
      400,
      ['10.0.0.99'],
    );
  });

  it('needs the fixed IP on a subnet that a router with a gateway on that network is attached to', async () => {
    const c = await smallCloud();
    const lonely = await c.store.update((tx) => {
      const net = createNetwork(tx, c.ctx, { name: 'lonely' });
      createSubnet(tx, c.ctx, { networkId: net.id, cidr: '10.1.0.0/24' });
      return createPort(tx, c.ctx, { networkId: net.id });
    });
    await rejects(
      c,
      (tx) => createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: lonely.id }),
      'ExternalGatewayForFloatingIPNotFound',
      404,
      [lonely.id],
    );
    await rejects(
      c,
      (tx) => createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: 'missing-port' }),
      'PortNotFound',
      404,
      ['missing-port'],
    );
  });

  it('disassociates, moves, and keeps the router from losing what floating IPs depend on', async () => {
    const c = await smallCloud();
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    await rejects(
      c,
      (tx) => removeRouterInterface(tx, c.ctx, c.router, { subnetId: c.privateSubnet }),
      'RouterInterfaceInUseByFloatingIP',
      409,
      [c.router],
    );
    await rejects(
      c,
      (tx) => updateRouter(tx, c.ctx, c.router, { externalGateway: null }),
      'RouterExternalGatewayInUseByFloatingIp',
      409,
      [c.router],
    );
    const moved = await c.store.update((tx) => updateFloatingIp(tx, c.ctx, fip.id, { portId: c.vm2 }));
    assert.equal(moved.fixedIpAddress, '10.0.0.12');
    assert.equal(moved.revisionNumber, fip.revisionNumber + 1);
    const off = await c.store.update((tx) => updateFloatingIp(tx, c.ctx, fip.id, { portId: null }));
    assert.deepEqual([off.portId, off.fixedIpAddress, off.routerId, off.status], [null, null, null, 'DOWN']);
  });

  it('writes a status only for the association the agent actually applied', async () => {
    const c = await smallCloud();
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    const applied = { routerId: fip.routerId, fixedIpAddress: fip.fixedIpAddress };
    await c.store.update((tx) => updateFloatingIp(tx, c.ctx, fip.id, { portId: c.vm2 }));
    const stale = await c.store.update((tx) => setFloatingIpStatus(tx, c.ctx, fip.id, applied, 'ACTIVE', ''));
    assert.equal(stale, undefined, 'an ACTIVE for the old fixed IP must not be recorded');
    const now = await c.store.read((v) => v.get('floatingip', fip.id)!);
    assert.equal(now.status, 'DOWN');
    const fresh = await c.store.update((tx) => setFloatingIpStatus(tx, c.ctx, fip.id, now, 'ACTIVE', ''));
    assert.equal(fresh?.status, 'ACTIVE');
  });

  it('builds a status revision only for the association applied, and only when the status differs', async () => {
    const c = await smallCloud();
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    const moved = { routerId: fip.routerId, fixedIpAddress: '10.0.0.12' };
    assert.equal(withFloatingIpStatus(c.ctx, fip, moved, 'ACTIVE', ''), undefined, 'moved on');
    assert.equal(withFloatingIpStatus(c.ctx, fip, fip, 'DOWN', ''), undefined, 'already DOWN');
    const next = withFloatingIpStatus(c.ctx, fip, fip, 'ERROR', 'no namespace')!;
    assert.deepEqual(
      { ...next, updatedAt: fip.updatedAt },
      { ...fip, status: 'ERROR', statusReason: 'no namespace', revisionNumber: fip.revisionNumber + 1 },
    );
    assert.ok(next.updatedAt > fip.updatedAt);
  });

  it('applies a status patch by the same rule: expect every field, write when some field differs', async () => {
    const c = await smallCloud();
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    const before = structuredClone(fip);
    const at = '2026-12-06T01:00:00.000Z';
    const patch = floatingIpStatusPatch(fip, 'ACTIVE', '');
    assert.deepEqual(patch, {
      id: fip.id,
      expect: { routerId: fip.routerId, fixedIpAddress: fip.fixedIpAddress },
      set: { status: 'ACTIVE', statusReason: '' },
    });
    const moved = [
      { routerId: null, fixedIpAddress: fip.fixedIpAddress },
      { routerId: fip.routerId, fixedIpAddress: null },
      { routerId: `${fip.routerId!}x`, fixedIpAddress: fip.fixedIpAddress },
    ];
    for (const expect of moved) assert.equal(applyStatusPatch(fip, { ...patch, expect }, at), undefined);
    assert.equal(applyStatusPatch(fip, floatingIpStatusPatch(fip, 'DOWN', ''), at), undefined, 'as it is');
    const written = applyStatusPatch(fip, patch, at);
    assert.deepEqual(written, {
      ...fip,
      status: 'ACTIVE',
      statusReason: '',
      updatedAt: at,
      revisionNumber: fip.revisionNumber + 1,
    });
    const reason = applyStatusPatch(fip, floatingIpStatusPatch(fip, 'DOWN', 'why'), at);
    assert.equal(reason?.statusReason, 'why', 'the reason alone differs');
    // A document from before statusReason was always written: absent is not ''.
    const { statusReason: _r, ...older } = fip;
    assert.equal(
      applyStatusPatch(older as typeof fip, floatingIpStatusPatch(fip, 'DOWN', ''), at)?.statusReason,
      '',
    );
    // Whatever else the set object holds is no status, and is not written.
    const wider = { ...patch, set: { ...patch.set, name: 'sneaked' } };
    assert.equal(applyStatusPatch(fip, wider, at)?.name, fip.name);
    assert.deepEqual(fip, before, 'the current document is left as it was');
    // withFloatingIpStatus is the same rule with the context's clock.
    const viaContext = withFloatingIpStatus({ ...c.ctx, now: () => at }, fip, fip, 'ACTIVE', '');
    assert.deepEqual(viaContext, written);
  });

  it('disassociates floating IPs when their port is deleted, as Neutron does', async () => {
    const c = await smallCloud();
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    await c.store.update((tx) => deletePort(tx, c.ctx, c.vm1));
    const now = await c.store.read((v) => v.get('floatingip', fip.id)!);
    assert.deepEqual([now.portId, now.routerId, now.status], [null, null, 'DOWN']);
  });
});
