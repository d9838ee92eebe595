import type { IPv4 } from './ipv4.js';
import type { Quota } from './quotas.js';

/** Fields every stored resource carries, as Neutron's standard attributes do. */
export interface Resource {
  readonly id: string;
  readonly projectId: string;
  readonly name: string;
  readonly description: string;
  readonly tags: readonly string[];
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly revisionNumber: number;
}

/** A Neutron network. With `external` set it is a floating-IP pool (`router:external`). */
export interface Network extends Resource {
  readonly external: boolean;
  readonly adminStateUp: boolean;
}

export interface AllocationPool {
  readonly start: IPv4;
  readonly end: IPv4;
}

export interface Subnet extends Resource {
  readonly networkId: string;
  /** Canonical `a.b.c.d/n`. */
  readonly cidr: string;
  /** The next hop on this subnet: the upstream router for an external subnet, the router interface inside. */
  readonly gatewayIp: IPv4 | null;
  readonly allocationPools: readonly AllocationPool[];
}

export interface FixedIp {
  readonly subnetId: string;
  readonly ipAddress: IPv4;
}

export const DEVICE_OWNER_ROUTER_INTERFACE = 'network:router_interface';
export const DEVICE_OWNER_ROUTER_GATEWAY = 'network:router_gateway';

/** A port holds fixed IPs on one network: a VM's NIC, a router interface or a router gateway. */
export interface Port extends Resource {
  readonly networkId: string;
  readonly fixedIps: readonly FixedIp[];
  readonly deviceId: string;
  readonly deviceOwner: string;
  readonly macAddress: string;
  readonly adminStateUp: boolean;
  /**
   * True when an admin made this port join resources of different projects: a router interface an admin
   * attached (or re-pointed), or a port an admin created on a network of another project. The agent trusts a
   * join across projects only when an admin made it (see `RouterTrust.mappedPort`). Absent means false.
   */
  readonly adminAttached?: boolean;
}

export interface ExternalGateway {
  readonly networkId: string;
  readonly portId: string;
  readonly fixedIps: readonly FixedIp[];
}

/**
 * A router joins internal subnets to one external network. sfip adds where the router lives on this host:
 * its network namespace (null means the host's own) and the gateway device facing the external network.
 */
export interface Router extends Resource {
  readonly namespace: string | null;
  readonly gatewayDevice: string | null;
  readonly externalGateway: ExternalGateway | null;
  readonly adminStateUp: boolean;
  /** Which dataplane backend carries this router's floating IPs; null means the agent's default. */
  readonly backend: string | null;
  /**
   * Drop traffic from outside addressed straight to internal addresses, and traffic claiming a fixed IP from a
   * MAC other than its port's. Absent in routers stored before it existed, which means true.
   */
  readonly antiSpoofing?: boolean;
  /**
   * Let the backend forward floating-IP packets past the kernel's stack where it can (eBPF: docs/ebpf.md, fast
   * path). Absent in routers stored before it existed, which means true.
   */
  readonly fastPath?: boolean;
  /**
   * The network node whose agent carries this router (Neutron's L3 agent binding). Null or absent when no node
   * agents are registered: then the single in-process agent of `sfip serve` carries every router.
   */
  readonly node?: string | null;
  /**
   * What the agent that carries the router last found: ERROR when it could not program it (its namespace or
   * gateway device is missing, or the kernel refused), with the reason. Absent until an agent reports: ACTIVE.
   */
  readonly status?: RouterStatus;
  readonly statusReason?: string;
}

export type RouterStatus = 'ACTIVE' | 'ERROR';

/**
 * A live agent on a network node (Neutron's L3 agent). Agents register themselves with a lease, and their
 * record disappears when the lease expires, so every listed agent is alive. Never written through the model.
 */
export interface Agent extends Resource {
  /** The node name the agent was started with (`sfip agent --node NAME`): unique among live agents. */
  readonly host: string;
  readonly agentType: 'L3 agent';
  readonly binary: 'sfip-agent';
  readonly startedAt: string;
  /** The lease TTL it registered with: how long after its death its routers move elsewhere. */
  readonly leaseTtlSeconds: number;
}

export type FloatingIpStatus = 'ACTIVE' | 'DOWN' | 'ERROR';

export type PortForwardingProtocol = 'tcp' | 'udp';

/**
 * One of a floating IP's port forwardings (Neutron's floating-ip-port-forwarding): external ports of the
 * floating address go to an internal address and ports. Ranges are N:N (port by port) or N:1 (internal start
 * equals end). Stored inside the floating IP, so a floating IP and its forwardings change atomically.
 */
export interface PortForwarding {
  readonly id: string;
  readonly internalPortId: string;
  readonly internalIpAddress: IPv4;
  readonly protocol: PortForwardingProtocol;
  readonly internalPortStart: number;
  readonly internalPortEnd: number;
  readonly externalPortStart: number;
  readonly externalPortEnd: number;
  readonly description: string;
  /** True when an admin forwarded to a port of another project. Absent means false. */
  readonly adminCreated?: boolean;
}

export interface FloatingIp extends Resource {
  readonly floatingNetworkId: string;
  readonly floatingSubnetId: string;
  readonly floatingIpAddress: IPv4;
  readonly portId: string | null;
  readonly fixedIpAddress: IPv4 | null;
  readonly routerId: string | null;
  readonly status: FloatingIpStatus;
  /** Why the status is ERROR (or why it is DOWN while associated); empty otherwise. */
  readonly statusReason: string;
  /** True when an admin associated this floating IP with a port of another project. Absent means false. */
  readonly adminAssociated?: boolean;
  /** Port forwardings; absent means none. A floating IP with forwardings has no port, but has a router. */
  readonly portForwardings?: readonly PortForwarding[];
  /** The QoS policy whose limits apply to this floating IP (Neutron's qos-fip); absent or null means none. */
  readonly qosPolicyId?: string | null;
}

export type QosDirection = 'ingress' | 'egress';
export type QosRuleType = 'bandwidth_limit' | 'packet_rate_limit';

/**
 * One rule of a QoS policy. `max` and `maxBurst` are in the rule type's own unit, as on the wire: kbit/s and
 * kbit for bandwidth_limit (max_kbps, max_burst_kbps), kpps and kilo-packets for packet_rate_limit. Ingress
 * is traffic towards the floating IP's fixed address, egress traffic from it (Neutron's sense for a port).
 */
export interface QosRule {
  readonly id: string;
  readonly type: QosRuleType;
  readonly max: number;
  readonly maxBurst: number;
  readonly direction: QosDirection;
}

/**
 * A Neutron QoS policy. Its rules are stored inside it (at most one per type and direction), so a policy and
 * its rules change atomically. A shared policy can be used by every project but changed only by its own.
 */
export interface QosPolicy extends Resource {
  readonly shared: boolean;
  readonly rules: readonly QosRule[];
}

export type BgpAuthType = 'none' | 'md5';

/**
 * A BGP peer (neutron-dynamic-routing): an upstream router the speakers open a session with. Admin-only. The
 * MD5 password is stored because the speaker daemon needs it in clear; the API never returns it.
 */
export interface BgpPeer extends Resource {
  readonly peerIp: IPv4;
  readonly remoteAs: number;
  readonly authType: BgpAuthType;
  readonly password: string | null;
}

/**
 * A BGP speaker (neutron-dynamic-routing): advertises a /32 for each floating IP of the routers whose gateway is
 * on one of its gateway networks, to each of its peers. Admin-only. IPv4 only, as sfip is.
 */
export interface BgpSpeaker extends Resource {
  readonly localAs: number;
  readonly ipVersion: 4;
  readonly advertiseFloatingIpHostRoutes: boolean;
  readonly advertiseTenantNetworks: boolean;
  readonly peerIds: readonly string[];
  readonly networkIds: readonly string[];
}

export interface KindMap {
  quota: Quota;
  network: Network;
  subnet: Subnet;
  port: Port;
  router: Router;
  floatingip: FloatingIp;
  agent: Agent;
  qospolicy: QosPolicy;
  bgpspeaker: BgpSpeaker;
  bgppeer: BgpPeer;
}

export type Kind = keyof KindMap;
export type AnyEntity = KindMap[Kind];
export const KINDS: readonly Kind[] = [
  'network',
  'subnet',
  'port',
  'router',
  'floatingip',
  'agent',
  'quota',
  'qospolicy',
  'bgpspeaker',
  'bgppeer',
];
