import type { FloatingIp, PortForwarding, PortForwardingProtocol } from './entities.js';
import { badRequest, conflict, notFound, SfipError } from './errors.js';
import { portForwardingsOfPortKey } from './index-keys.js';
import { parseIPv4 } from './ipv4.js';
import { checkText, getVisible, notFoundError, revise } from './resource.js';
import { routerFor } from './floating-ips.js';
import type { Context, Tx, View } from './tx.js';

/** Neutron's floating-ip-port-forwarding body, after the API has checked types. Ports are numbers or "a:b". */
export interface PortForwardingInput {
  readonly internalPortId?: string;
  readonly internalIpAddress?: string;
  readonly protocol?: string;
  readonly internalPort?: number | null;
  readonly externalPort?: number | null;
  readonly internalPortRange?: string | null;
  readonly externalPortRange?: string | null;
  readonly description?: string;
}

export const PORT_FORWARDING_PROTOCOLS: readonly PortForwardingProtocol[] = ['tcp', 'udp'];

export const portForwardingsOf = (fip: FloatingIp): readonly PortForwarding[] => fip.portForwardings ?? [];

interface Range {
  readonly start: number;
  readonly end: number;
}

function checkPort(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 1 || value > 65535) {
    throw badRequest(`Invalid input for ${field}: ${value} is not a port number in 1-65535.`);
  }
  return value;
}

function parseRange(text: string, field: string): Range {
  const match = /^([0-9]{1,5})(?::([0-9]{1,5}))?$/.exec(text);
  if (!match)
    throw badRequest(`Invalid input for ${field}: '${text.slice(0, 40)}' is not a port or a range a:b.`);
  const start = checkPort(Number(match[1]), field);
  const end = checkPort(Number(match[2] ?? match[1]), field);
  if (end < start) throw badRequest(`Invalid input for ${field}: '${text}' ends before it starts.`);
  return { start, end };
}

/** The single-port and the range form name the same thing: one of them, never both. */
function rangeOf(
  single: number | null | undefined,
  range: string | null | undefined,
  name: string,
): Range | undefined {
  if (single != null && range != null) {
    throw badRequest(`${name}_port and ${name}_port_range cannot be given together (${single}, '${range}').`);
  }
  if (single != null) {
    const port = checkPort(single, `${name}_port`);
    return { start: port, end: port };
  }
  if (range != null) return parseRange(range, `${name}_port_range`);
  return undefined;
}

const size = (r: Range) => r.end - r.start + 1;
const overlaps = (a: Range, b: Range) => a.start <= b.end && b.start <= a.end;
export const rangeText = (start: number, end: number) => `${start}:${end}`;

const internalRange = (pf: PortForwarding): Range => ({
  start: pf.internalPortStart,
  end: pf.internalPortEnd,
});
const externalRange = (pf: PortForwarding): Range => ({
  start: pf.externalPortStart,
  end: pf.externalPortEnd,
});

/** Builds and validates one forwarding of `fip`: a new one, or `current` with `input`'s changes. */
function buildForwarding(
  view: View,
  ctx: Context,
  fip: FloatingIp,
  id: string,
  input: PortForwardingInput,
  current?: PortForwarding,
): { forwarding: PortForwarding; routerId: string } {
  if (fip.portId !== null) {
    throw conflict(
      'FipAssociatedWithPort',
      `Floating IP ${fip.floatingIpAddress} (${fip.id}) is associated with port ${fip.portId}; it cannot also carry port forwardings.`,
    );
  }
  const protocol = input.protocol ?? current?.protocol;
  if (protocol === undefined) throw badRequest('protocol is required (tcp or udp).');
  if (!(PORT_FORWARDING_PROTOCOLS as readonly string[]).includes(protocol)) {
    throw badRequest(`Invalid input for protocol: '${protocol.slice(0, 40)}' is not one of tcp, udp.`);
  }
  const internal =
    rangeOf(input.internalPort, input.internalPortRange, 'internal') ?? (current && internalRange(current));
  const external =
    rangeOf(input.externalPort, input.externalPortRange, 'external') ?? (current && externalRange(current));
  if (!internal) throw badRequest('internal_port or internal_port_range is required.');
  if (!external) throw badRequest('external_port or external_port_range is required.');
  // N:N maps port by port; N:1 sends a whole external range to one internal port.
  if (size(internal) !== 1 && size(internal) !== size(external)) {
    throw badRequest(
      `Invalid port ranges: external ${rangeText(external.start, external.end)} (${size(external)} ports) and internal ${rangeText(internal.start, internal.end)} (${size(internal)} ports) must be the same size, or the internal one a single port.`,
    );
  }
  const portId = input.internalPortId ?? current?.internalPortId;
  if (portId === undefined) throw badRequest('internal_port_id is required.');
  // Another project's port is unknown to the caller (404), exactly as a missing one.
  const port = getVisible(view, ctx, 'port', portId);
  if (port.deviceOwner.startsWith('network:')) {
    throw badRequest(
      `Port ${port.id} is owned by ${port.deviceOwner} and cannot be a port forwarding target.`,
    );
  }
  if (port.projectId !== fip.projectId && !ctx.isAdmin) throw notFoundError('port', portId);
  const addressText =
    input.internalIpAddress ?? (input.internalPortId === undefined ? current?.internalIpAddress : undefined);
  if (addressText === undefined) throw badRequest('internal_ip_address is required.');
  const address = parseIPv4(addressText, 'internal_ip_address');
  const fixed = port.fixedIps.find((f) => f.ipAddress === address);
  if (!fixed) throw badRequest(`Port ${port.id} does not have fixed IP ${address} (internal_ip_address).`);
  const routerId = routerFor(view, fip.floatingNetworkId, fixed.subnetId);
  if (!routerId) {
    throw notFound(
      'ExternalGatewayForFloatingIPNotFound',
      `External network ${fip.floatingNetworkId} is not reachable from subnet ${fixed.subnetId}: internal_ip_address ${address} is on no subnet attached to a router with a gateway there.`,
    );
  }
  if (fip.routerId !== null && routerId !== fip.routerId) {
    throw badRequest(
      `internal_ip_address ${address} is behind router ${routerId}, but floating IP ${fip.floatingIpAddress} forwards through router ${fip.routerId}.`,
    );
  }
  const description = input.description ?? current?.description ?? '';
  checkText(description, 'description');
  const forwarding: PortForwarding = {
    id,
    internalPortId: port.id,
    internalIpAddress: address,
    protocol: protocol as PortForwardingProtocol,
    internalPortStart: internal.start,
    internalPortEnd: internal.end,
    externalPortStart: external.start,
    externalPortEnd: external.end,
    description,
    ...(port.projectId !== fip.projectId && { adminCreated: true }),
  };
  checkConflicts(view, fip, forwarding);
  return { forwarding, routerId };
}

const duplicate = (what: string) =>
  new SfipError(
    'BadRequest',
    400,
    `A duplicate port forwarding entry with same attributes already exists, conflicting values are ${what}.`,
  );

/**
 * Neutron's rule: external ports do not overlap per floating IP and protocol. sfip adds two rules that make
 * the stateless maps unambiguous (docs/port-forwarding.md): an internal address, protocol and port is the
 * target of one forwarding only (the reverse map needs one answer for a reply), and an internal address never
 * receives the same external port and protocol through two floating IPs.
 */
function checkConflicts(view: View, fip: FloatingIp, pf: PortForwarding): void {
  for (const other of portForwardingsOf(fip)) {
    if (other.id === pf.id || other.protocol !== pf.protocol) continue;
    if (overlaps(externalRange(other), externalRange(pf))) {
      throw duplicate(
        `external port ${rangeText(pf.externalPortStart, pf.externalPortEnd)}/${pf.protocol} of floating IP ${fip.floatingIpAddress} overlaps forwarding ${other.id} (${rangeText(other.externalPortStart, other.externalPortEnd)})`,
      );
    }
  }
  const holders = view.find('floatingip', portForwardingsOfPortKey(pf.internalPortId));
  const fips = holders.some((h) => h.id === fip.id) ? holders : [...holders, fip];
  for (const holder of fips) {
    const list = holder.id === fip.id ? portForwardingsOf(fip) : portForwardingsOf(holder);
    for (const other of list) {
      if (
        other.id === pf.id ||
        other.protocol !== pf.protocol ||
        other.internalIpAddress !== pf.internalIpAddress
      ) {
        continue;
      }
      if (overlaps(internalRange(other), internalRange(pf))) {
        throw duplicate(
          `internal ${pf.internalIpAddress}:${rangeText(pf.internalPortStart, pf.internalPortEnd)}/${pf.protocol} overlaps forwarding ${other.id} (${rangeText(other.internalPortStart, other.internalPortEnd)}) of floating IP ${holder.floatingIpAddress}`,
        );
      }
      if (holder.id !== fip.id && overlaps(externalRange(other), externalRange(pf))) {
        throw duplicate(
          `external port ${rangeText(pf.externalPortStart, pf.externalPortEnd)}/${pf.protocol} to ${pf.internalIpAddress} is already forwarded to that address by floating IP ${holder.floatingIpAddress} (${other.id})`,
        );
      }
    }
  }
}

export function portForwardingNotFound(fipId: string, id: string): SfipError {
  return notFound(
    'PortForwardingNotFound',
    `Port Forwarding ${id} could not be found on floating IP ${fipId}.`,
  );
}

export function findPortForwarding(fip: FloatingIp, id: string): PortForwarding {
  const found = portForwardingsOf(fip).find((pf) => pf.id === id);
  if (!found) throw portForwardingNotFound(fip.id, id);
  return found;
}

export function createPortForwarding(
  tx: Tx,
  ctx: Context,
  fipId: string,
  input: PortForwardingInput,
): PortForwarding {
  const fip = getVisible(tx, ctx, 'floatingip', fipId);
  const { forwarding, routerId } = buildForwarding(tx, ctx, fip, ctx.newId(), input);
  tx.put(
    'floatingip',
    revise(ctx, fip, {
      portForwardings: [...portForwardingsOf(fip), forwarding],
      routerId,
      ...(fip.routerId !== routerId && { status: 'DOWN' as const, statusReason: '' }),
    }),
  );
  return forwarding;
}

export function updatePortForwarding(
  tx: Tx,
  ctx: Context,
  fipId: string,
  id: string,
  input: PortForwardingInput,
): PortForwarding {
  const fip = getVisible(tx, ctx, 'floatingip', fipId);
  const current = findPortForwarding(fip, id);
  // The floating IP's router is re-derived from the remaining forwardings: with only this one, it may move.
  const others = portForwardingsOf(fip).filter((pf) => pf.id !== id);
  const base = others.length === 0 ? { ...fip, routerId: null } : fip;
  const { forwarding, routerId } = buildForwarding(tx, ctx, base, id, input, current);
  tx.put(
    'floatingip',
    revise(ctx, fip, {
      portForwardings: portForwardingsOf(fip).map((pf) => (pf.id === id ? forwarding : pf)),
      routerId,
    }),
  );
  return forwarding;
}

export function deletePortForwarding(tx: Tx, ctx: Context, fipId: string, id: string): void {
  const fip = getVisible(tx, ctx, 'floatingip', fipId);
  findPortForwarding(fip, id);
  tx.put(
    'floatingip',
    withoutForwardings(ctx, fip, (pf) => pf.id === id),
  );
}

/** `fip` without the forwardings `drop` selects; the last one gone releases the router, as in Neutron. */
export function withoutForwardings(
  ctx: Context,
  fip: FloatingIp,
  drop: (pf: PortForwarding) => boolean,
): FloatingIp {
  const kept = portForwardingsOf(fip).filter((pf) => !drop(pf));
  return revise(ctx, fip, {
    portForwardings: kept,
    ...(kept.length === 0 &&
      fip.portId === null && { routerId: null, status: 'DOWN' as const, statusReason: '' }),
  });
}
