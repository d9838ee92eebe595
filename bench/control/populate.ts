import { randomUUID } from 'node:crypto';
import {
  addRouterInterface,
  createFloatingIp,
  createNetwork,
  createPort,
  createRouter,
  createSubnet,
  type Context,
} from '../../src/model/index.js';
import { openStore } from '../../src/store/index.js';
import { fixedIpOf, floatingIpOf, type BenchTopology } from '../topology.js';

export interface PopulatedIds {
  readonly externalNetworkId: string;
  readonly internalNetworkId: string;
  readonly internalSubnetId: string;
  readonly routerId: string;
  /** Ports 0..(count + spare - 1); the first `count` have floating IPs. */
  readonly portIds: string[];
}

const CHUNK = 2000;

/**
 * Writes a big topology straight into the SQLite store through the model (the same validation the API runs),
 * much faster than 200,000 HTTP calls: one external network (100.64.0.0/14), one internal subnet
 * (10.128.0.0/14), one router, `count + spare` ports and `count` associated floating IPs.
 */
export async function populateStore(
  stateDir: string,
  t: BenchTopology,
  routerNamespace: string,
  backend: string,
  count: number,
  spare: number,
): Promise<PopulatedIds> {
  const store = openStore(undefined, stateDir);
  const ctx: Context = {
    projectId: 'bench',
    isAdmin: true,
    now: () => new Date().toISOString(),
    newId: () => randomUUID(),
    allocationHints: new Map(),
  };
  try {
    const base = await store.update((tx) => {
      const ext = createNetwork(tx, ctx, { name: 'bench-public', external: true });
      const extSubnet = createSubnet(tx, ctx, {
        networkId: ext.id,
        cidr: t.externalCidr,
        gatewayIp: t.genIp,
        allocationPools: [{ start: floatingIpOf(0), end: floatingIpOf(131_071) }],
      });
      const net = createNetwork(tx, ctx, { name: 'bench-private' });
      const subnet = createSubnet(tx, ctx, { networkId: net.id, cidr: t.fixedCidr, gatewayIp: '10.128.0.1' });
      const router = createRouter(tx, ctx, {
        name: 'bench-router',
        namespace: routerNamespace,
        gatewayDevice: t.gatewayDevice,
        backend,
        externalGateway: {
          networkId: ext.id,
          externalFixedIps: [{ subnetId: extSubnet.id, ipAddress: t.gatewayIp }],
        },
      });
      addRouterInterface(tx, ctx, router.id, { subnetId: subnet.id });
      return {
        externalNetworkId: ext.id,
        internalNetworkId: net.id,
        internalSubnetId: subnet.id,
        routerId: router.id,
      };
    });
    const portIds: string[] = [];
    for (let start = 0; start < count + spare; start += CHUNK) {
      const ids = await store.update((tx) => {
        const made: string[] = [];
        for (let i = start; i < Math.min(count + spare, start + CHUNK); i++) {
          const port = createPort(tx, ctx, {
            networkId: base.internalNetworkId,
            fixedIps: [{ subnetId: base.internalSubnetId, ipAddress: fixedIpOf(i) }],
            deviceOwner: 'compute:bench',
          });
          if (i < count) {
            createFloatingIp(tx, ctx, {
              floatingNetworkId: base.externalNetworkId,
              floatingIpAddress: floatingIpOf(i),
              portId: port.id,
            });
          }
          made.push(port.id);
        }
        return made;
      });
      portIds.push(...ids);
    }
    return {
      externalNetworkId: base.externalNetworkId,
      internalNetworkId: base.internalNetworkId,
      internalSubnetId: base.internalSubnetId,
      routerId: base.routerId,
      portIds,
    };
  } finally {
    await store.close();
  }
}
