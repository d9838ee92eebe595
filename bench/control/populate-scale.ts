import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  addRouterInterface,
  createFloatingIp,
  createNetwork,
  createPort,
  createRouter,
  createSubnet,
  updateRouter,
  type BackendName,
  type Context,
} from '../../src/model/index.js';
import { openStore } from '../../src/store/index.js';
import { fixedIpOf, floatingIpOf, sampleSlot, type ScaleTopology } from './scale-topology.js';

/** The store ids of one bench router and its internal network. */
export interface PopulatedRouter {
  readonly routerId: string;
  readonly internalNetworkId: string;
  readonly internalSubnetId: string;
  /** Ports 0..(perRouter + spare - 1); the first perRouter have floating IPs. */
  readonly portIds: string[];
}

export interface ScalePopulatedIds {
  readonly externalNetworkId: string;
  readonly routers: PopulatedRouter[];
}

const CHUNK = 2000;

const benchContext = (): Context => ({
  projectId: 'bench',
  isAdmin: true,
  now: () => new Date().toISOString(),
  newId: () => randomUUID(),
  allocationHints: new Map(),
});

/**
 * Writes a big topology straight into the SQLite store through the model (the same validation the API runs),
 * much faster than 200,000 HTTP calls: one external network, then per router an internal network and subnet,
 * the router (its own gateway address on the external network) and `perRouter + spare` ports, the first
 * `perRouter` with an associated floating IP. `spare` covers the samples that land on each router.
 */
export async function populateScaleStore(
  stateDir: string,
  t: ScaleTopology,
  backend: BackendName,
  samples: number,
): Promise<ScalePopulatedIds> {
  const store = openStore(undefined, stateDir);
  const ctx = benchContext();
  const spareOf = (r: number) =>
    Array.from({ length: samples }, (_, k) => sampleSlot(t, k)).filter((s) => s.router === r).length;
  try {
    const { externalNetworkId, externalSubnetId } = await store.update((tx) => {
      const ext = createNetwork(tx, ctx, { name: 'bench-public', external: true });
      const subnet = createSubnet(tx, ctx, {
        networkId: ext.id,
        cidr: t.externalCidr,
        gatewayIp: t.genIp,
        allocationPools: [{ start: t.poolStart, end: t.poolEnd }],
      });
      return { externalNetworkId: ext.id, externalSubnetId: subnet.id };
    });
    const routers: PopulatedRouter[] = [];
    for (const r of t.routers) {
      const base = await store.update((tx) => {
        const net = createNetwork(tx, ctx, { name: `bench-private-${r.name}` });
        const subnet = createSubnet(tx, ctx, {
          networkId: net.id,
          cidr: r.fixedCidr,
          gatewayIp: r.fixedGatewayIp,
        });
        const router = createRouter(tx, ctx, {
          name: `bench-${r.name}`,
          namespace: r.namespace,
          gatewayDevice: t.gatewayDevice,
          backend,
          externalGateway: {
            networkId: externalNetworkId,
            externalFixedIps: [{ subnetId: externalSubnetId, ipAddress: r.gatewayIp }],
          },
        });
        addRouterInterface(tx, ctx, router.id, { subnetId: subnet.id });
        return { routerId: router.id, internalNetworkId: net.id, internalSubnetId: subnet.id };
      });
      const total = t.shape.perRouter + spareOf(r.index);
      const portIds: string[] = [];
      for (let start = 0; start < total; start += CHUNK) {
        const ids = await store.update((tx) => {
          const made: string[] = [];
          for (let i = start; i < Math.min(total, start + CHUNK); i++) {
            const port = createPort(tx, ctx, {
              networkId: base.internalNetworkId,
              fixedIps: [{ subnetId: base.internalSubnetId, ipAddress: fixedIpOf(t, r.index, i) }],
              deviceOwner: 'compute:bench',
            });
            if (i < t.shape.perRouter) {
              createFloatingIp(tx, ctx, {
                floatingNetworkId: externalNetworkId,
                floatingIpAddress: floatingIpOf(t, r.index, i),
                portId: port.id,
              });
            }
            made.push(port.id);
          }
          return made;
        });
        portIds.push(...ids);
      }
      routers.push({ ...base, portIds });
    }
    return { externalNetworkId, routers };
  } finally {
    await store.close();
  }
}

/**
 * A copy of a populated store for another backend: the same networks, ports and floating IPs (no daemon has run
 * on the template, so every status is as populated), with every router switched to `backend`. Populating
 * 100,000 takes about a minute; copying, a second.
 */
export async function copyPopulated(
  templateDir: string,
  stateDir: string,
  ids: ScalePopulatedIds,
  backend: BackendName,
): Promise<void> {
  cpSync(templateDir, stateDir, { recursive: true });
  const store = openStore(undefined, stateDir);
  const ctx = benchContext();
  try {
    await store.update((tx) => {
      for (const r of ids.routers) updateRouter(tx, ctx, r.routerId, { backend });
    });
  } finally {
    await store.close();
  }
}

/**
 * The ids of a store populated in `template` (its sfip.db and ids.json), populating it first when it holds none:
 * the focused scripts (associate-tail.ts, fill-profile.ts) keep a template across runs of the same shape.
 */
export async function populatedTemplate(
  template: string,
  t: ScaleTopology,
  backend: BackendName,
  samples: number,
): Promise<ScalePopulatedIds> {
  const idsFile = join(template, 'ids.json');
  if (existsSync(idsFile)) return JSON.parse(readFileSync(idsFile, 'utf8')) as ScalePopulatedIds;
  mkdirSync(template, { recursive: true });
  const started = performance.now();
  const ids = await populateScaleStore(template, t, backend, samples);
  writeFileSync(idsFile, JSON.stringify(ids));
  console.log(`populated in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return ids;
}
