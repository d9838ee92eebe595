import {
  subnetsOfNetworkKey,
  type BgpPeer,
  type BgpSpeaker,
  type FloatingIp,
  type Network,
  type Port,
  type QosPolicy,
  type QosRule,
  type Resource,
  type Router,
  type Subnet,
  type View,
} from '../model/index.js';

/** Neutron's JSON shape for each resource. The model is camelCase; the wire is Neutron's snake_case. */
export type NeutronObject = Record<string, unknown>;

/**
 * Neutron's standard attributes, written into a view built by the caller. Views are plain literals plus
 * Object.assign rather than `{ ...standard(r), more }`: on Node 20's V8 a spread followed by more properties
 * costs tens of microseconds per object (measured), which a list of 100 floating IPs pays 100 times.
 */
function standard(r: Resource): NeutronObject {
  return {
    id: r.id,
    tenant_id: r.projectId,
    project_id: r.projectId,
    description: r.description,
    tags: r.tags.slice(),
    created_at: r.createdAt.replace(/\.\d+Z$/, 'Z'),
    updated_at: r.updatedAt.replace(/\.\d+Z$/, 'Z'),
    revision_number: r.revisionNumber,
  };
}

export function networkView(n: Network, view: View): NeutronObject {
  return Object.assign(standard(n), {
    name: n.name,
    status: 'ACTIVE',
    admin_state_up: n.adminStateUp,
    shared: false,
    'router:external': n.external,
    subnets: view
      .lookup(subnetsOfNetworkKey(n.id))
      .map((r) => r.id)
      .sort(),
    mtu: 1500,
  });
}

export function subnetView(s: Subnet): NeutronObject {
  return Object.assign(standard(s), {
    name: s.name,
    network_id: s.networkId,
    ip_version: 4,
    cidr: s.cidr,
    gateway_ip: s.gatewayIp,
    allocation_pools: s.allocationPools.map((p) => ({ start: p.start, end: p.end })),
    enable_dhcp: false,
    dns_nameservers: [],
    host_routes: [],
  });
}

export function portView(p: Port): NeutronObject {
  return Object.assign(standard(p), {
    name: p.name,
    network_id: p.networkId,
    mac_address: p.macAddress,
    admin_state_up: p.adminStateUp,
    status: 'ACTIVE',
    device_id: p.deviceId,
    device_owner: p.deviceOwner,
    fixed_ips: p.fixedIps.map((ip) => ({ subnet_id: ip.subnetId, ip_address: ip.ipAddress })),
  });
}

export function routerView(r: Router): NeutronObject {
  return Object.assign(standard(r), {
    name: r.name,
    status: r.status ?? 'ACTIVE',
    // sfip extension, as on floating IPs: why the agent could not program the router.
    status_reason: r.statusReason ?? '',
    admin_state_up: r.adminStateUp,
    external_gateway_info: r.externalGateway && {
      network_id: r.externalGateway.networkId,
      enable_snat: true,
      external_fixed_ips: r.externalGateway.fixedIps.map((ip) => ({
        subnet_id: ip.subnetId,
        ip_address: ip.ipAddress,
      })),
    },
    routes: [],
    namespace: r.namespace,
    gateway_device: r.gatewayDevice,
    backend: r.backend,
    anti_spoofing: r.antiSpoofing ?? true,
    fast_path: r.fastPath ?? true,
    // The network node whose agent carries the router (read-only; Neutron shows it as /l3-agents).
    node: r.node ?? null,
  });
}

/** Neutron's fip-port-details extension: a summary of the associated port, so clients need not fetch it. */
function portDetails(portId: string | null, view: View): NeutronObject | null {
  const port = portId === null ? undefined : view.get('port', portId);
  if (!port) return null;
  return {
    name: port.name,
    network_id: port.networkId,
    mac_address: port.macAddress,
    admin_state_up: port.adminStateUp,
    status: 'ACTIVE',
    device_id: port.deviceId,
    device_owner: port.deviceOwner,
  };
}

export function floatingIpView(f: FloatingIp, view: View): NeutronObject {
  return Object.assign(standard(f), {
    floating_network_id: f.floatingNetworkId,
    floating_ip_address: f.floatingIpAddress,
    router_id: f.routerId,
    port_id: f.portId,
    fixed_ip_address: f.fixedIpAddress,
    status: f.status,
    status_reason: f.statusReason,
    port_details: portDetails(f.portId, view),
    qos_policy_id: f.qosPolicyId ?? null,
    // Neutron's summary of each forwarding in the floating IP's own body.
    port_forwardings: (f.portForwardings ?? []).map((pf) => ({
      id: pf.id,
      protocol: pf.protocol,
      internal_ip_address: pf.internalIpAddress,
      internal_port: pf.internalPortStart === pf.internalPortEnd ? pf.internalPortStart : null,
      external_port: pf.externalPortStart === pf.externalPortEnd ? pf.externalPortStart : null,
      internal_port_range: `${pf.internalPortStart}:${pf.internalPortEnd}`,
      external_port_range: `${pf.externalPortStart}:${pf.externalPortEnd}`,
    })),
  });
}

/** A rule as its own sub-resource shows it: the rate fields are named by the rule type, as in Neutron. */
export function qosRuleView(rule: QosRule): NeutronObject {
  return rule.type === 'bandwidth_limit'
    ? { id: rule.id, max_kbps: rule.max, max_burst_kbps: rule.maxBurst, direction: rule.direction }
    : { id: rule.id, max_kpps: rule.max, max_burst_kpps: rule.maxBurst, direction: rule.direction };
}

export function qosPolicyView(p: QosPolicy): NeutronObject {
  return Object.assign(standard(p), {
    name: p.name,
    shared: p.shared,
    // Neutron lists each rule with its type and policy in the policy's body.
    rules: p.rules.map((r) => Object.assign(qosRuleView(r), { type: r.type, qos_policy_id: p.id })),
  });
}

/**
 * neutron-dynamic-routing's speaker body. Its speakers and peers have no standard attributes (no description,
 * tags or timestamps on the wire), so none are shown.
 */
export function bgpSpeakerView(s: BgpSpeaker): NeutronObject {
  return {
    id: s.id,
    name: s.name,
    tenant_id: s.projectId,
    project_id: s.projectId,
    local_as: s.localAs,
    ip_version: s.ipVersion,
    advertise_floating_ip_host_routes: s.advertiseFloatingIpHostRoutes,
    advertise_tenant_networks: s.advertiseTenantNetworks,
    peers: s.peerIds.slice(),
    networks: s.networkIds.slice(),
  };
}

/** The peer's password is never returned (is_visible False in neutron-dynamic-routing). */
export function bgpPeerView(p: BgpPeer): NeutronObject {
  return {
    id: p.id,
    name: p.name,
    tenant_id: p.projectId,
    project_id: p.projectId,
    peer_ip: p.peerIp,
    remote_as: p.remoteAs,
    auth_type: p.authType,
  };
}
