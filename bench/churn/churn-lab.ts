import type { ApiClient, Json } from '../../src/client/api-client.js';
import { run } from '../../src/exec/run.js';
import {
  buildLab,
  destroyLab,
  labNamespaces,
  registerLab,
  type LabSpec,
  type RegisteredRouter,
} from '../../src/lab/index.js';
import { ipv4FromUint32, ipv4ToUint32, parseIPv4 } from '../../src/model/index.js';

/** One fixed IP a floating IP can point at, on a VM's port (a port may carry several). */
export interface ChurnPort {
  readonly fixedIp: string;
  readonly portId: string;
  readonly vmNamespace: string;
}

export interface ChurnLab {
  readonly spec: LabSpec;
  readonly router: RegisteredRouter;
  readonly routerNamespace: string;
  readonly externalNamespace: string;
  readonly gatewayDevice: string;
  readonly gatewayIp: string;
  readonly upstreamIp: string;
  /** Every address of the floating pool, in order. */
  readonly pool: string[];
  readonly ports: ChurnPort[];
  readonly vmNamespaces: string[];
}

export interface ChurnLabOptions {
  readonly prefix: string;
  readonly vms: number;
  /** Fixed IPs per VM namespace: each gets its own port, so floating IPs outnumber namespaces cheaply. */
  readonly portsPerVm: number;
  readonly poolSize: number;
}

const POOL_START = '203.0.113.10';

export function churnLabSpec(o: ChurnLabOptions): LabSpec {
  const poolEnd = ipv4FromUint32(ipv4ToUint32(parseIPv4(POOL_START)) + o.poolSize - 1);
  return {
    prefix: o.prefix,
    routers: [
      {
        name: 'r1',
        externalCidr: '203.0.113.0/24',
        upstreamIp: '203.0.113.1',
        gatewayIp: '203.0.113.2',
        poolStart: POOL_START,
        poolEnd,
        internalCidr: '10.0.0.0/24',
        internalGatewayIp: '10.0.0.1',
        vms: Array.from({ length: o.vms }, (_, i) => ({ name: `vm${i + 1}`, ip: `10.0.0.${11 + i}` })),
      },
    ],
  };
}

/** Extra fixed IPs of VM i (0-based): 10.0.0.1xx, one per extra port. */
const extraIp = (vm: number, k: number) => `10.0.0.${100 + vm * 10 + k}`;

/**
 * Builds the lab, registers it through the API, and adds the extra VM ports. The external host routes the
 * floating pool to the router (as an upstream router would for a routed floating range), so traffic to an
 * address does not depend on ARP and gratuitous ARP, which the conformance suite tests on their own.
 */
export async function buildChurnLab(api: ApiClient, o: ChurnLabOptions): Promise<ChurnLab> {
  const spec = churnLabSpec(o);
  const r = spec.routers[0]!;
  await destroyLab(spec);
  await buildLab(spec);
  const routerNamespace = labNamespaces.router(spec, r);
  const externalNamespace = labNamespaces.external(spec, r);
  const pool = Array.from({ length: o.poolSize }, (_, i) =>
    ipv4FromUint32(ipv4ToUint32(parseIPv4(POOL_START)) + i),
  );
  for (const address of pool) {
    await run('ip', ['-n', externalNamespace, 'route', 'add', `${address}/32`, 'via', r.gatewayIp]);
  }
  const [router] = await registerLab(api, spec);
  const ports: ChurnPort[] = [];
  const vmNamespaces: string[] = [];
  for (const [i, vm] of r.vms.entries()) {
    const ns = labNamespaces.vm(spec, r, vm);
    vmNamespaces.push(ns);
    const extra = Array.from({ length: o.portsPerVm - 1 }, (_, k) => extraIp(i, k + 1));
    if (extra.length === 0) {
      ports.push({ fixedIp: vm.ip, portId: router!.ports[vm.name]!, vmNamespace: ns });
      continue;
    }
    // A VM NIC with several fixed IPs is one Neutron port with several fixed_ips (and one MAC, which the
    // router's anti-spoofing binds them to): replace the lab's single-address port with such a port.
    for (const ip of extra) await run('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    const old = (await api.get<{ port: Json }>(`/v2.0/ports/${router!.ports[vm.name]!}`)).port;
    await api.delete(`/v2.0/ports/${String(old.id)}`);
    const port = (
      await api.post<{ port: Json }>('/v2.0/ports', {
        port: {
          name: vm.name,
          network_id: old.network_id,
          fixed_ips: [vm.ip, ...extra].map((ip) => ({ subnet_id: router!.internalSubnetId, ip_address: ip })),
          device_id: old.device_id,
          device_owner: old.device_owner,
          mac_address: old.mac_address,
        },
      })
    ).port;
    for (const ip of [vm.ip, ...extra]) ports.push({ fixedIp: ip, portId: String(port.id), vmNamespace: ns });
  }
  return {
    spec,
    router: router!,
    routerNamespace,
    externalNamespace,
    gatewayDevice: `qg-${r.name}`,
    gatewayIp: r.gatewayIp,
    upstreamIp: r.upstreamIp,
    pool,
    ports,
    vmNamespaces,
  };
}

export async function destroyChurnLab(spec: LabSpec): Promise<void> {
  await destroyLab(spec);
}
