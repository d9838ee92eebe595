import type { ApiClient, Json } from '../client/api-client.js';
import { gatewayDeviceOf, labNamespaces, vmMac, type LabSpec } from './topology.js';

export const labTag = (spec: LabSpec) => `sfip-lab:${spec.prefix}`;

/** A lab VM's port name, as its namespace: `sfip-r1-vm1`. */
export const labPortName = (spec: LabSpec, router: string, vm: string) => `${spec.prefix}-${router}-${vm}`;

export interface RegisteredRouter {
  readonly name: string;
  readonly routerId: string;
  readonly externalNetworkId: string;
  readonly internalSubnetId: string;
  readonly ports: Record<string, string>;
}

/** Tells the API about a lab: an external network per router, an internal one, the router, and a port per VM. */
export async function registerLab(api: ApiClient, spec: LabSpec): Promise<RegisteredRouter[]> {
  const tags = [labTag(spec)];
  const out: RegisteredRouter[] = [];
  for (const r of spec.routers) {
    const ext = (
      await api.post<{ network: Json }>('/v2.0/networks', {
        network: { name: `${spec.prefix}-${r.name}-public`, 'router:external': true, tags },
      })
    ).network;
    const extSubnet = (
      await api.post<{ subnet: Json }>('/v2.0/subnets', {
        subnet: {
          name: `${spec.prefix}-${r.name}-public`,
          network_id: ext.id,
          cidr: r.externalCidr,
          gateway_ip: r.upstreamIp,
          allocation_pools: [{ start: r.poolStart, end: r.poolEnd }],
          tags,
        },
      })
    ).subnet;
    const net = (
      await api.post<{ network: Json }>('/v2.0/networks', {
        network: { name: `${spec.prefix}-${r.name}-private`, tags },
      })
    ).network;
    const subnet = (
      await api.post<{ subnet: Json }>('/v2.0/subnets', {
        subnet: {
          name: `${spec.prefix}-${r.name}-private`,
          network_id: net.id,
          cidr: r.internalCidr,
          gateway_ip: r.internalGatewayIp,
          tags,
        },
      })
    ).subnet;
    const router = (
      await api.post<{ router: Json }>('/v2.0/routers', {
        router: {
          name: `${spec.prefix}-${r.name}`,
          namespace: labNamespaces.router(spec, r),
          gateway_device: gatewayDeviceOf(r),
          external_gateway_info: {
            network_id: ext.id,
            external_fixed_ips: [{ subnet_id: extSubnet.id, ip_address: r.gatewayIp }],
          },
          tags,
        },
      })
    ).router;
    await api.put(`/v2.0/routers/${String(router.id)}/add_router_interface`, { subnet_id: subnet.id });
    const ports: Record<string, string> = {};
    for (const vm of r.vms) {
      const port = (
        await api.post<{ port: Json }>('/v2.0/ports', {
          port: {
            // Prefixed like the namespaces, so two labs do not make `--port vm1` ambiguous.
            name: labPortName(spec, r.name, vm.name),
            network_id: net.id,
            fixed_ips: [{ subnet_id: subnet.id, ip_address: vm.ip }],
            device_id: `${spec.prefix}-${r.name}-${vm.name}`,
            device_owner: 'compute:lab',
            mac_address: vmMac(vm),
            tags,
          },
        })
      ).port;
      ports[vm.name] = String(port.id);
    }
    out.push({
      name: r.name,
      routerId: String(router.id),
      externalNetworkId: String(ext.id),
      internalSubnetId: String(subnet.id),
      ports,
    });
  }
  return out;
}

/** Removes everything a lab registered, found by its tag, in dependency order. */
export async function unregisterLab(api: ApiClient, spec: LabSpec): Promise<number> {
  const tag = encodeURIComponent(labTag(spec));
  const list = async (collection: string) =>
    (await api.get<Record<string, Json[]>>(`/v2.0/${collection}?tags=${tag}`))[collection] ?? [];
  let removed = 0;
  const networks = await list('networks');
  const networkIds = new Set(networks.map((n) => n.id));
  const fips = (await api.get<{ floatingips: Json[] }>('/v2.0/floatingips')).floatingips.filter((f) =>
    networkIds.has(f.floating_network_id),
  );
  for (const fip of fips) await api.delete(`/v2.0/floatingips/${String(fip.id)}`).then(() => removed++);
  for (const port of await list('ports'))
    await api.delete(`/v2.0/ports/${String(port.id)}`).then(() => removed++);
  for (const router of await list('routers')) {
    const ifaces = (
      await api.get<{ ports: Json[] }>(
        `/v2.0/ports?device_id=${String(router.id)}&device_owner=network:router_interface`,
      )
    ).ports;
    for (const p of ifaces)
      await api.put(`/v2.0/routers/${String(router.id)}/remove_router_interface`, { port_id: p.id });
    await api.delete(`/v2.0/routers/${String(router.id)}`).then(() => removed++);
  }
  for (const network of networks)
    await api.delete(`/v2.0/networks/${String(network.id)}`).then(() => removed++);
  return removed;
}
