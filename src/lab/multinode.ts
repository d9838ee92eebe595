import { run } from '../exec/run.js';
import { parseNamespaceName } from '../model/names.js';
import type { ApiClient, Json } from '../client/api-client.js';
import { destroyNamespaces, existingNamespaces } from './namespaces.js';
import { vmMac } from './topology.js';

/**
 * Several network nodes on one machine, for failover tests and benchmarks. Every node has its own copy of every
 * router (a namespace with the router's gateway and internal devices) and of the router's VM; all gateway
 * devices join one shared external segment, a bridge in a lab namespace where the upstream host lives:
 *
 *                        segment namespace: br0 (upstream 203.0.113.1) + the client
 *                       /                  |                   \
 *   node n1: (qg-r1) P-n1-r1 (qr-r1)--P-n1-r1-vm     node n2: (qg-r1) P-n2-r1 (qr-r1)--P-n2-r1-vm   ...
 *
 * The agent of node N finds a router's namespace R as `P-N-R` (`sfip agent --netns-prefix P-N-`). Only the
 * node an agent carries a router on translates and announces its floating IPs; the per-node VM copies stand in
 * for the tenant network that, in a real deployment, follows the router to its new node.
 */
export interface MultiNodeRouter {
  readonly name: string;
  readonly internalCidr: string;
  readonly internalGatewayIp: string;
  readonly vmIp: string;
  /** The router's external address as stored (its shared SNAT source); not configured on any node. */
  readonly gatewayIp: string;
}

export interface MultiNodeLabSpec {
  readonly prefix: string;
  readonly nodes: readonly string[];
  readonly routers: readonly MultiNodeRouter[];
  readonly externalCidr: string;
  readonly upstreamIp: string;
  readonly poolStart: string;
  readonly poolEnd: string;
  /**
   * Routed labs (src/lab/bgp-lab.ts): the segment joining the nodes to the upstream router has its own subnet,
   * distinct from the external network's (which holds the floating IPs and is on no link): the upstream reaches
   * floating IPs only through routes it learned by BGP.
   */
  readonly segment?: { readonly cidr: string; readonly upstreamIp: string };
}

export function multiNodeLab(
  prefix: string,
  nodes = ['n1', 'n2'],
  routerCount = 2,
  options: { routed?: boolean } = {},
): MultiNodeLabSpec {
  if (nodes.length > 8 || routerCount > 8)
    throw new Error('the multi-node lab has at most 8 nodes and 8 routers');
  // Routed: the external network (gateways, floating IPs) is 192.0.2.0/24 on no link, and the nodes reach the
  // upstream over a segment of its own (203.0.113.0/24); otherwise the external network is the shared segment.
  const net = options.routed ? '192.0.2' : '203.0.113';
  return {
    prefix,
    nodes,
    routers: Array.from({ length: routerCount }, (_, i) => ({
      name: `r${i + 1}`,
      internalCidr: `10.${i + 1}.0.0/24`,
      internalGatewayIp: `10.${i + 1}.0.1`,
      vmIp: `10.${i + 1}.0.11`,
      gatewayIp: `${net}.${10 + i}`,
    })),
    externalCidr: `${net}.0/24`,
    upstreamIp: `${net}.1`,
    poolStart: `${net}.100`,
    poolEnd: `${net}.199`,
    ...(options.routed && { segment: { cidr: '203.0.113.0/24', upstreamIp: '203.0.113.1' } }),
  };
}

export const multiNodeNames = {
  segment: (spec: MultiNodeLabSpec) => parseNamespaceName(`${spec.prefix}-seg`),
  /** What `sfip agent --netns-prefix` gets on a node. */
  netnsPrefix: (spec: MultiNodeLabSpec, node: string) => `${spec.prefix}-${node}-`,
  router: (spec: MultiNodeLabSpec, node: string, r: MultiNodeRouter) =>
    parseNamespaceName(`${spec.prefix}-${node}-${r.name}`),
  vm: (spec: MultiNodeLabSpec, node: string, r: MultiNodeRouter) =>
    parseNamespaceName(`${spec.prefix}-${node}-${r.name}-vm`),
  /** The segment end of a node's copy of a router: pulling it down is that node's uplink failing. */
  uplink: (node: string, r: MultiNodeRouter) => `${node}${r.name}`,
  gatewayDevice: (r: MultiNodeRouter) => `qg-${r.name}`,
};

export function multiNodeNamespaces(spec: MultiNodeLabSpec): string[] {
  return [
    multiNodeNames.segment(spec),
    ...spec.nodes.flatMap((node) =>
      spec.routers.flatMap((r) => [multiNodeNames.router(spec, node, r), multiNodeNames.vm(spec, node, r)]),
    ),
  ];
}

const ip = (netns: string, ...args: string[]) => run('ip', ['-n', parseNamespaceName(netns), ...args]);
const prefixLength = (cidr: string) => Number(cidr.split('/')[1]);
const segmentCidr = (spec: MultiNodeLabSpec) => spec.segment?.cidr ?? spec.externalCidr;
const segmentUpstream = (spec: MultiNodeLabSpec) => spec.segment?.upstreamIp ?? spec.upstreamIp;

/** A node's own address on the segment for its copy of a router: where traffic for the router reaches that node. */
export function nodeRouterAddress(spec: MultiNodeLabSpec, node: string, r: MultiNodeRouter): string {
  const nodeIndex = spec.nodes.indexOf(node);
  const routerIndex = spec.routers.indexOf(r);
  return `203.0.113.${20 + nodeIndex * 8 + routerIndex}`;
}

/** Builds every namespace of the lab (nothing touches the host's own namespace). */
export async function buildMultiNodeLab(spec: MultiNodeLabSpec): Promise<void> {
  const existing = await existingNamespaces();
  const clash = multiNodeNamespaces(spec).find((ns) => existing.has(ns));
  if (clash)
    throw new Error(`Namespace ${clash} already exists: destroy the lab with prefix ${spec.prefix} first.`);
  try {
    const seg = multiNodeNames.segment(spec);
    await run('ip', ['netns', 'add', seg]);
    await ip(seg, 'link', 'set', 'lo', 'up');
    await ip(seg, 'link', 'add', 'br0', 'type', 'bridge');
    await ip(seg, 'addr', 'add', `${segmentUpstream(spec)}/${prefixLength(segmentCidr(spec))}`, 'dev', 'br0');
    await ip(seg, 'link', 'set', 'br0', 'up');
    for (const node of spec.nodes) {
      for (const r of spec.routers) await buildRouterCopy(spec, node, r);
    }
  } catch (error) {
    await destroyMultiNodeLab(spec);
    throw error;
  }
}

async function buildRouterCopy(spec: MultiNodeLabSpec, node: string, r: MultiNodeRouter): Promise<void> {
  const seg = multiNodeNames.segment(spec);
  const router = multiNodeNames.router(spec, node, r);
  const vm = multiNodeNames.vm(spec, node, r);
  for (const ns of [router, vm]) {
    await run('ip', ['netns', 'add', ns]);
    await ip(ns, 'link', 'set', 'lo', 'up');
  }
  const qg = multiNodeNames.gatewayDevice(r);
  const qr = `qr-${r.name}`;
  const uplink = multiNodeNames.uplink(node, r);
  await ip(router, 'link', 'add', qg, 'type', 'veth', 'peer', 'name', uplink, 'netns', seg);
  await ip(seg, 'link', 'set', uplink, 'master', 'br0', 'up');
  await ip(router, 'link', 'add', qr, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vm);
  // Each node's copy has its own address on the segment; the router's stored gateway address is not
  // configured anywhere, so nodes never contend for it.
  const own = nodeRouterAddress(spec, node, r);
  await ip(router, 'addr', 'add', `${own}/${prefixLength(segmentCidr(spec))}`, 'dev', qg);
  await ip(router, 'addr', 'add', `${r.internalGatewayIp}/${prefixLength(r.internalCidr)}`, 'dev', qr);
  await ip(router, 'link', 'set', qg, 'up');
  await ip(router, 'link', 'set', qr, 'up');
  await ip(router, 'route', 'add', 'default', 'via', segmentUpstream(spec));
  await run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'], { netns: router });
  // Every node's copy of the VM has the MAC of the VM's port, as anti-spoofing expects.
  await ip(vm, 'link', 'set', 'eth0', 'address', vmMac({ name: 'vm', ip: r.vmIp }));
  await ip(vm, 'addr', 'add', `${r.vmIp}/${prefixLength(r.internalCidr)}`, 'dev', 'eth0');
  await ip(vm, 'link', 'set', 'eth0', 'up');
  await ip(vm, 'route', 'add', 'default', 'via', r.internalGatewayIp);
}

/** A node's uplink fails (or comes back): its copies of every router drop off the shared segment. */
export async function setNodeUplinks(spec: MultiNodeLabSpec, node: string, up: boolean): Promise<void> {
  const seg = multiNodeNames.segment(spec);
  for (const r of spec.routers)
    await ip(seg, 'link', 'set', multiNodeNames.uplink(node, r), up ? 'up' : 'down');
}

export async function destroyMultiNodeLab(spec: MultiNodeLabSpec): Promise<string[]> {
  return destroyNamespaces(multiNodeNamespaces(spec));
}

export interface RegisteredMultiNodeRouter {
  readonly name: string;
  readonly routerId: string;
  readonly portId: string;
  readonly node: string | null;
}

/** Registers the lab with the API: one external network, and per router its network, router and VM port. */
export async function registerMultiNodeLab(
  api: ApiClient,
  spec: MultiNodeLabSpec,
): Promise<{ externalNetworkId: string; routers: RegisteredMultiNodeRouter[] }> {
  const tags = [`sfip-lab:${spec.prefix}`];
  const post = async (collection: string, member: string, body: Json) =>
    (await api.post<Record<string, Json>>(`/v2.0/${collection}`, { [member]: { ...body, tags } }))[member]!;
  const ext = await post('networks', 'network', { name: `${spec.prefix}-public`, 'router:external': true });
  await post('subnets', 'subnet', {
    network_id: ext.id,
    cidr: spec.externalCidr,
    gateway_ip: spec.upstreamIp,
    allocation_pools: [{ start: spec.poolStart, end: spec.poolEnd }],
  });
  const routers: RegisteredMultiNodeRouter[] = [];
  for (const r of spec.routers) {
    const net = await post('networks', 'network', { name: `${spec.prefix}-${r.name}-private` });
    const subnet = await post('subnets', 'subnet', {
      network_id: net.id,
      cidr: r.internalCidr,
      gateway_ip: r.internalGatewayIp,
    });
    const router = await post('routers', 'router', {
      name: `${spec.prefix}-${r.name}`,
      namespace: r.name,
      gateway_device: multiNodeNames.gatewayDevice(r),
      external_gateway_info: { network_id: ext.id, external_fixed_ips: [{ ip_address: r.gatewayIp }] },
    });
    await api.put(`/v2.0/routers/${String(router.id)}/add_router_interface`, { subnet_id: subnet.id });
    const port = await post('ports', 'port', {
      name: `${r.name}-vm`,
      network_id: net.id,
      fixed_ips: [{ subnet_id: subnet.id, ip_address: r.vmIp }],
      device_id: `${spec.prefix}-${r.name}-vm`,
      device_owner: 'compute:lab',
      mac_address: vmMac({ name: 'vm', ip: r.vmIp }),
    });
    routers.push({
      name: r.name,
      routerId: String(router.id),
      portId: String(port.id),
      node: (router.node as string | null) ?? null,
    });
  }
  return { externalNetworkId: String(ext.id), routers };
}
