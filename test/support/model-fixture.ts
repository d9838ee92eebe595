import { randomUUID } from 'node:crypto';
import {
  addRouterInterface,
  createNetwork,
  createPort,
  createRouter,
  createSubnet,
  type Context,
  type IPv4,
  type Tx,
} from '../../src/model/index.js';
import { SqliteStore } from '../../src/store/index.js';

export function adminContext(projectId = 'admin-project'): Context {
  let clock = Date.parse('2026-01-01T00:00:00Z');
  return {
    projectId,
    isAdmin: true,
    now: () => new Date((clock += 1000)).toISOString(),
    newId: () => randomUUID(),
    allocationHints: new Map<string, IPv4>(),
  };
}

export interface SmallCloud {
  store: SqliteStore;
  ctx: Context;
  publicNet: string;
  publicSubnet: string;
  privateNet: string;
  privateSubnet: string;
  router: string;
  vm1: string;
  vm2: string;
}

/** An external pool 203.0.113.0/28 (pool .4-.6), a private 10.0.0.0/24, a router joining them, two VM ports. */
export async function smallCloud(path = ':memory:'): Promise<SmallCloud> {
  const store = new SqliteStore({ path });
  const ctx = adminContext();
  const ids = await store.update((tx: Tx) => {
    const pub = createNetwork(tx, ctx, { name: 'public', external: true });
    const pubSub = createSubnet(tx, ctx, {
      networkId: pub.id,
      cidr: '203.0.113.0/28',
      gatewayIp: '203.0.113.1',
      allocationPools: [{ start: '203.0.113.4', end: '203.0.113.6' }],
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
    const vm1 = createPort(tx, ctx, {
      networkId: priv.id,
      name: 'vm1',
      fixedIps: [{ ipAddress: '10.0.0.11' }],
    });
    const vm2 = createPort(tx, ctx, {
      networkId: priv.id,
      name: 'vm2',
      fixedIps: [{ ipAddress: '10.0.0.12' }],
    });
    return {
      publicNet: pub.id,
      publicSubnet: pubSub.id,
      privateNet: priv.id,
      privateSubnet: privSub.id,
      router: router.id,
      vm1: vm1.id,
      vm2: vm2.id,
    };
  });
  return { store, ctx, ...ids };
}
