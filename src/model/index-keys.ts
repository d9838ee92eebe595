import type { AnyEntity, BgpSpeaker, FloatingIp, Kind, Port, Subnet, Router } from './entities.js';
import { isQuotaResource, quotaUsageKey } from './quotas.js';

/**
 * Secondary index keys per resource. A key marked unique can be held by one resource only, and the store
 * enforces that inside the writing transaction: it is the last line of defence against two writers handing
 * out the same address.
 */
export interface IndexKey {
  readonly key: string;
  readonly unique: boolean;
}

export const ipKey = (networkId: string, address: string): string => `ip/${networkId}/${address}`;
export const fipOfFixedKey = (networkId: string, portId: string, fixedIp: string): string =>
  `fip-fixed/${networkId}/${portId}/${fixedIp}`;
export const fipOfPortKey = (portId: string): string => `fip-port/${portId}`;
export const fipOfRouterKey = (routerId: string): string => `fip-router/${routerId}`;
/** Floating IPs with a port forwarding to this port. */
export const portForwardingsOfPortKey = (portId: string): string => `pf-port/${portId}`;
/** Floating IPs that use a QoS policy: a policy in use cannot be deleted (Neutron's QosPolicyInUse). */
export const fipsOfQosPolicyKey = (policyId: string): string => `fip-qos/${policyId}`;
/** BGP speakers that advertise the routers of a gateway network, and those that talk to a peer. */
export const bgpSpeakersOfNetworkKey = (networkId: string): string => `bgp-speaker-network/${networkId}`;
export const bgpSpeakersOfPeerKey = (peerId: string): string => `bgp-speaker-peer/${peerId}`;
export const portsOfDeviceKey = (deviceId: string): string => `port-device/${deviceId}`;
export const portsOfNetworkKey = (networkId: string): string => `port-network/${networkId}`;
/** A MAC address on one network. Not unique in the store (older databases may hold repeats); the model checks. */
export const macKey = (networkId: string, mac: string): string => `mac/${networkId}/${mac}`;
export const portsOfSubnetKey = (subnetId: string): string => `port-subnet/${subnetId}`;
export const subnetsOfNetworkKey = (networkId: string): string => `subnet-network/${networkId}`;
export const routersOfNetworkKey = (networkId: string): string => `router-gateway-network/${networkId}`;
export const fipsOfNetworkKey = (networkId: string): string => `fip-network/${networkId}`;
/** The routers scheduled to one network node. */
export const routersOfNodeKey = (node: string): string => `router-node/${node}`;
/** Every resource holds its project's key, so a project's list reads only its own resources. */
export const projectKey = (projectId: string): string => `project/${projectId}`;
/** One router per gateway device: two routers programming the same device would fight over it. */
export const routerPlacementKey = (namespace: string | null, device: string): string =>
  `router-placement/${namespace ?? ''}/${device}`;

export function indexKeysOf(kind: Kind, entity: AnyEntity): IndexKey[] {
  const keys = [{ key: projectKey(entity.projectId), unique: false }, ...kindKeysOf(kind, entity)];
  if (isQuotaResource(kind)) keys.push({ key: quotaUsageKey(kind, entity.projectId), unique: false });
  return keys;
}

function kindKeysOf(kind: Kind, entity: AnyEntity): IndexKey[] {
  switch (kind) {
    case 'subnet':
      return [{ key: subnetsOfNetworkKey((entity as Subnet).networkId), unique: false }];
    case 'port': {
      const port = entity as Port;
      return [
        { key: portsOfNetworkKey(port.networkId), unique: false },
        { key: portsOfDeviceKey(port.deviceId), unique: false },
        { key: macKey(port.networkId, port.macAddress), unique: false },
        ...port.fixedIps.map((ip) => ({ key: ipKey(port.networkId, ip.ipAddress), unique: true })),
        ...[...new Set(port.fixedIps.map((ip) => ip.subnetId))].map((s) => ({
          key: portsOfSubnetKey(s),
          unique: false,
        })),
      ];
    }
    case 'router': {
      const router = entity as Router;
      const keys: IndexKey[] = [];
      if (router.externalGateway)
        keys.push({ key: routersOfNetworkKey(router.externalGateway.networkId), unique: false });
      if (router.gatewayDevice) {
        keys.push({ key: routerPlacementKey(router.namespace, router.gatewayDevice), unique: true });
      }
      if (router.node) keys.push({ key: routersOfNodeKey(router.node), unique: false });
      return keys;
    }
    case 'floatingip': {
      const fip = entity as FloatingIp;
      const keys: IndexKey[] = [
        { key: ipKey(fip.floatingNetworkId, fip.floatingIpAddress), unique: true },
        { key: fipsOfNetworkKey(fip.floatingNetworkId), unique: false },
      ];
      if (fip.portId && fip.fixedIpAddress) {
        keys.push({
          key: fipOfFixedKey(fip.floatingNetworkId, fip.portId, fip.fixedIpAddress),
          unique: true,
        });
        keys.push({ key: fipOfPortKey(fip.portId), unique: false });
      }
      if (fip.routerId) keys.push({ key: fipOfRouterKey(fip.routerId), unique: false });
      for (const portId of new Set((fip.portForwardings ?? []).map((pf) => pf.internalPortId))) {
        keys.push({ key: portForwardingsOfPortKey(portId), unique: false });
      }
      if (fip.qosPolicyId) keys.push({ key: fipsOfQosPolicyKey(fip.qosPolicyId), unique: false });
      return keys;
    }
    case 'bgpspeaker': {
      const speaker = entity as BgpSpeaker;
      return [
        ...speaker.networkIds.map((id) => ({ key: bgpSpeakersOfNetworkKey(id), unique: false })),
        ...speaker.peerIds.map((id) => ({ key: bgpSpeakersOfPeerKey(id), unique: false })),
      ];
    }
    case 'network':
    case 'bgppeer':
    case 'agent':
    case 'quota':
    case 'qospolicy':
      return [];
  }
}
