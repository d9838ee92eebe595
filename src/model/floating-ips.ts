import {
  DEVICE_OWNER_ROUTER_INTERFACE,
  type FloatingIp,
  type FloatingIpStatus,
  type Network,
  type Port,
} from './entities.js';
import { badRequest, conflict, notFound, SfipError } from './errors.js';
import { fipOfFixedKey, portsOfDeviceKey, portsOfSubnetKey, routersOfNetworkKey } from './index-keys.js';
import { assignAddress } from './ip-assignment.js';
import { IPv4, parseIPv4 } from './ipv4.js';
import { CommonInput, getVisible, newResource, notFoundError, revise, visibleTo } from './resource.js';
import { usableQosPolicy } from './qos-policies.js';
import { interfacePorts } from './routers.js';
import type { Context, Tx, View } from './tx.js';

export interface FloatingIpInput extends CommonInput {
  readonly floatingNetworkId: string;
  readonly floatingIpAddress?: string;
  readonly subnetId?: string;
  readonly portId?: string | null;
  readonly fixedIpAddress?: string | null;
  readonly qosPolicyId?: string | null;
}

export interface FloatingIpUpdate {
  readonly portId?: string | null;
  readonly fixedIpAddress?: string | null;
  /** null removes the policy. */
  readonly qosPolicyId?: string | null;
  readonly description?: string;
  readonly tags?: readonly string[];
}

/** Where a floating IP points: which fixed IP of which port, through which router. */
export interface Association {
  readonly portId: string;
  readonly fixedIpAddress: IPv4;
  readonly routerId: string;
  /** The project of the port: a floating IP of another project can only be associated with it by an admin. */
  readonly portProjectId: string;
}

/** The stored fields of an association; `adminAssociated` records an admin joining two projects' resources. */
function associationFields(
  association: Association,
  fipProjectId: string,
  previous?: FloatingIp,
): Partial<FloatingIp> {
  const crossing = association.portProjectId !== fipProjectId;
  return {
    portId: association.portId,
    fixedIpAddress: association.fixedIpAddress,
    routerId: association.routerId,
    ...((crossing || previous?.adminAssociated !== undefined) && { adminAssociated: crossing }),
  };
}

const exhausted = (network: Network) =>
  new SfipError(
    'ExternalIpAddressExhausted',
    400,
    `Unable to find any IP address on external network ${network.id}.`,
  );

export function createFloatingIp(tx: Tx, ctx: Context, input: FloatingIpInput): FloatingIp {
  // Another project's internal network is unknown to the caller, exactly as a missing one (no existence oracle).
  const network = tx.get('network', input.floatingNetworkId);
  if (!network || !(network.external || visibleTo(ctx, network))) {
    throw notFoundError('network', input.floatingNetworkId);
  }
  if (!network.external) throw badRequest(`Network ${network.id} is not a valid external network`);
  if (input.floatingIpAddress !== undefined && !ctx.isAdmin) {
    throw new SfipError('PolicyNotAuthorized', 403, 'Only an admin may choose floating_ip_address.');
  }
  if (input.fixedIpAddress != null && input.portId == null) {
    throw badRequest('fixed_ip_address cannot be given without port_id.');
  }
  const base = newResource(ctx, input);
  // Checked against the floating IP's project: a policy of another project is unknown unless shared.
  const qosPolicyId =
    input.qosPolicyId == null ? null : usableQosPolicy(tx, ctx, input.qosPolicyId, base.projectId).id;
  const address = assignAddress(
    tx,
    ctx,
    network,
    {
      ...(input.subnetId !== undefined && { subnetId: input.subnetId }),
      ...(input.floatingIpAddress !== undefined && { ipAddress: input.floatingIpAddress }),
    },
    { field: 'floating_ip_address', requirePool: true, exhausted },
  );
  const association =
    input.portId == null
      ? null
      : resolveAssociation(
          tx,
          ctx,
          network,
          base.id,
          address.ipAddress,
          input.portId,
          input.fixedIpAddress ?? undefined,
          true,
        );
  // Object.assign, not a spread: see revise() for why.
  const fip: FloatingIp = Object.assign(base, {
    name: '',
    floatingNetworkId: network.id,
    floatingSubnetId: address.subnetId,
    floatingIpAddress: address.ipAddress,
    portId: null,
    fixedIpAddress: null,
    routerId: null,
    ...(association && associationFields(association, base.projectId)),
    status: 'DOWN' as const,
    statusReason: '',
    ...(qosPolicyId !== null && { qosPolicyId }),
  });
  tx.put('floatingip', fip);
  return fip;
}

export function updateFloatingIp(tx: Tx, ctx: Context, id: string, input: FloatingIpUpdate): FloatingIp {
  const current = getVisible(tx, ctx, 'floatingip', id);
  let mapping: Partial<FloatingIp> = {};
  const portId = input.portId === undefined ? current.portId : input.portId;
  if (input.portId === null) {
    mapping = {
      portId: null,
      fixedIpAddress: null,
      // A floating IP with port forwardings keeps the router they go through.
      routerId: (current.portForwardings ?? []).length > 0 ? current.routerId : null,
      ...(current.adminAssociated !== undefined && { adminAssociated: false }),
    };
  } else if (input.portId !== undefined || input.fixedIpAddress !== undefined) {
    if ((current.portForwardings ?? []).length > 0) {
      throw conflict(
        'FipInUseByPortForwarding',
        `Floating IP ${current.floatingIpAddress} (${id}) in use by Port Forwarding resources: it cannot be associated with port ${portId ?? ''}.`,
      );
    }
    if (portId === null) throw badRequest('fixed_ip_address cannot be given without port_id.');
    const network = tx.get('network', current.floatingNetworkId);
    if (!network) throw notFoundError('network', current.floatingNetworkId);
    const fixed = input.fixedIpAddress ?? (input.portId === undefined ? current.fixedIpAddress : undefined);
    const association = resolveAssociation(
      tx,
      ctx,
      network,
      id,
      current.floatingIpAddress,
      portId,
      fixed ?? undefined,
    );
    mapping = associationFields(association, current.projectId, current);
  }
  const changed = (Object.keys(mapping) as (keyof FloatingIp)[]).some((k) => mapping[k] !== current[k]);
  const qosPolicyId =
    input.qosPolicyId == null
      ? input.qosPolicyId
      : usableQosPolicy(tx, ctx, input.qosPolicyId, current.projectId).id;
  const next = revise(ctx, current, {
    ...mapping,
    ...(qosPolicyId !== undefined && { qosPolicyId }),
    ...(changed && { status: 'DOWN' as const, statusReason: '' }),
    ...(input.description !== undefined && { description: input.description }),
    ...(input.tags !== undefined && { tags: [...new Set(input.tags)] }),
  });
  tx.put('floatingip', next);
  return next;
}

export function deleteFloatingIp(tx: Tx, ctx: Context, id: string): FloatingIp {
  const fip = getVisible(tx, ctx, 'floatingip', id);
  tx.delete('floatingip', id);
  return fip;
}

/** The association a pass applied to a floating IP, which its status describes. */
export interface AppliedAssociation {
  readonly routerId: string | null;
  readonly fixedIpAddress: string | null;
}

/**
 * Records what the dataplane did with a floating IP. The agent passes the association it applied; if the
 * floating IP has moved on since, the status would describe something else, so it is not written.
 */
export function setFloatingIpStatus(
  tx: Tx,
  ctx: Context,
  id: string,
  applied: AppliedAssociation,
  status: FloatingIpStatus,
  reason: string,
): FloatingIp | undefined {
  const current = tx.get('floatingip', id);
  if (!current || movedOn(current, applied)) return undefined;
  const next = withFloatingIpStatus(ctx, current, applied, status, reason);
  if (!next) return current;
  tx.put('floatingip', next);
  return next;
}

/**
 * A status report as data: write `set` on floating IP `id` if it still has the association `expect` (the one the
 * reporting pass applied) and its status differs. Data rather than a callback, so that a store applies the one rule
 * (applyStatusPatch) wherever it holds the documents (Store.updateStatuses).
 */
export interface FloatingIpStatusPatch {
  readonly id: string;
  readonly expect: AppliedAssociation;
  readonly set: { readonly status: FloatingIpStatus; readonly statusReason: string };
}

/** The patch reporting `status` for a floating IP as a pass applied it (its id and association). */
export function floatingIpStatusPatch(
  applied: AppliedAssociation & { readonly id: string },
  status: FloatingIpStatus,
  statusReason: string,
): FloatingIpStatusPatch {
  return {
    id: applied.id,
    expect: { routerId: applied.routerId, fixedIpAddress: applied.fixedIpAddress },
    set: { status, statusReason },
  };
}

/**
 * The rule of a status patch: nothing to write (undefined) when the floating IP moved on since the pass that applied
 * `expect`, or has the status already; otherwise its next revision: `set`, `updatedAt`, `revisionNumber + 1`, every
 * other field as it is. Only status fields differ from `current`, so a store may write it as a status-only change
 * (no index key and no mapping moves). A `statusReason` absent from an older document differs from any reason.
 */
export function applyStatusPatch(
  current: FloatingIp,
  patch: FloatingIpStatusPatch,
  updatedAt: string,
): FloatingIp | undefined {
  if (!statusPatchApplies(current, patch)) return undefined;
  // Object.assign, not a spread: see revise() for why.
  // The two fields named, not `patch.set` itself: whatever else its object holds is no status.
  return Object.assign({}, current, {
    status: patch.set.status,
    statusReason: patch.set.statusReason,
    updatedAt,
    revisionNumber: current.revisionNumber + 1,
  });
}

function statusPatchApplies(current: FloatingIp, { expect, set }: FloatingIpStatusPatch): boolean {
  return (
    !movedOn(current, expect) && (current.status !== set.status || current.statusReason !== set.statusReason)
  );
}

/**
 * The next revision of a floating IP carrying a status, or undefined when there is nothing to write (see
 * applyStatusPatch, whose rule it is). The clock is read only when there is something to write.
 */
export function withFloatingIpStatus(
  ctx: Context,
  current: FloatingIp,
  applied: AppliedAssociation,
  status: FloatingIpStatus,
  reason: string,
): FloatingIp | undefined {
  const patch = { id: current.id, expect: applied, set: { status, statusReason: reason } };
  return statusPatchApplies(current, patch) ? applyStatusPatch(current, patch, ctx.now()) : undefined;
}

function movedOn(current: FloatingIp, applied: AppliedAssociation): boolean {
  return current.routerId !== applied.routerId || current.fixedIpAddress !== applied.fixedIpAddress;
}

export function resolveAssociation(
  view: View,
  ctx: Context,
  network: Network,
  fipId: string,
  floatingIpAddress: IPv4,
  portId: string,
  fixedIpAddress: string | undefined,
  /** A floating IP being created: a refusal rolls it back, so the message must not name its address or id. */
  creating = false,
): Association {
  const port = getVisible(view, ctx, 'port', portId);
  if (port.deviceOwner.startsWith('network:')) {
    throw badRequest(`Port ${port.id} is owned by ${port.deviceOwner} and cannot have a floating IP.`);
  }
  const fixed = pickFixedIp(port, fixedIpAddress);
  const holders = view
    .lookup(fipOfFixedKey(network.id, port.id, fixed.ipAddress))
    .filter((ref) => ref.id !== fipId);
  if (holders.length > 0) {
    const other = view.get('floatingip', holders[0]!.id);
    throw conflict(
      'FloatingIPPortAlreadyAssociated',
      `Cannot associate ${creating ? 'a new floating IP' : `floating IP ${floatingIpAddress} (${fipId})`} with port ${port.name ? `${port.name} (${port.id})` : port.id} using fixed IP ${fixed.ipAddress}, as that fixed IP already has floating IP ${other?.floatingIpAddress ?? holders[0]!.id} on external network ${network.name ? `${network.name} (${network.id})` : network.id}.`,
    );
  }
  const routerId = routerFor(view, network.id, fixed.subnetId);
  if (!routerId) {
    throw notFound(
      'ExternalGatewayForFloatingIPNotFound',
      `External network ${network.id} is not reachable from subnet ${fixed.subnetId}. Therefore, cannot associate Port ${port.id} with a Floating IP.`,
    );
  }
  return { portId: port.id, fixedIpAddress: fixed.ipAddress, routerId, portProjectId: port.projectId };
}

function pickFixedIp(port: Port, fixedIpAddress: string | undefined) {
  if (fixedIpAddress !== undefined) {
    const ip = parseIPv4(fixedIpAddress, 'fixed_ip_address');
    const match = port.fixedIps.find((f) => f.ipAddress === ip);
    if (!match) throw badRequest(`Port ${port.id} does not have fixed ip ${ip}`);
    return match;
  }
  if (port.fixedIps.length === 0) throw badRequest(`Port ${port.id} does not have any IPv4 address.`);
  if (port.fixedIps.length > 1) {
    throw badRequest(
      `Port ${port.id} has multiple fixed IPv4 addresses. Must provide a specific IPv4 address when assigning a floating IP.`,
    );
  }
  return port.fixedIps[0]!;
}

/**
 * Neutron's rule: the router with a gateway on the floating network and an interface on the fixed IP's subnet.
 * Every router on the network that owns a port on the subnet is looked at (in id order, the first wins; a store
 * that offers devicesWithPort names those in one query, else every router on the network is), so each must cost
 * little: its ports come
 * in one indexed query and are matched by subnet id, and only a router with an interface port there is read and
 * its interfaces checked for trust (interfacePorts). Reading each router, its ports one by one and their subnets
 * made this most of an association's cost in the model with 100 routers on one external network. The subnet itself is read
 * once: an interface on a subnet that no longer exists reaches nothing.
 */
export function routerFor(view: View, networkId: string, subnetId: string): string | undefined {
  // Routers, ports and subnets decide the answer, and nothing else: while none of them changes (a churn of
  // associations changes only floating IPs), the store keeps it (View.structural).
  const search = () => searchRouter(view, networkId, subnetId);
  return view.structural ? view.structural(`routerFor ${networkId} ${subnetId}`, search) : search();
}

function searchRouter(view: View, networkId: string, subnetId: string): string | undefined {
  if (!view.get('subnet', subnetId)) return undefined;
  const onSubnet = (p: Port) => p.fixedIps.some((ip) => ip.subnetId === subnetId);
  // Each router's ports, parsed only when their stored text names the subnet (a port with an address on it does):
  // with 100 routers on the external network, parsing every router's ports was about a third of the search, paid
  // on every association. The id is that of a stored subnet (read above), so its text is its JSON text.
  const { findDocuments } = view;
  const devicePorts = (routerId: string): Port[] =>
    findDocuments
      ? findDocuments('port', portsOfDeviceKey(routerId)).flatMap((text) =>
          text.includes(subnetId) ? [JSON.parse(text) as Port] : [],
        )
      : view.find('port', portsOfDeviceKey(routerId));
  // Only the routers that own a port on the subnet, when the store can tell in one query (see
  // View.devicesWithPort); any other router fails the test below anyway.
  const routerIds = view.devicesWithPort
    ? view.devicesWithPort(routersOfNetworkKey(networkId), portsOfSubnetKey(subnetId))
    : view.lookup(routersOfNetworkKey(networkId)).map((ref) => ref.id);
  return routerIds.sort().find((routerId) => {
    const candidate = devicePorts(routerId).some(
      (p) => p.deviceOwner === DEVICE_OWNER_ROUTER_INTERFACE && onSubnet(p),
    );
    if (!candidate) return false;
    const router = view.get('router', routerId);
    return router !== undefined && interfacePorts(view, router).some(onSubnet);
  });
}
