import { cidrsOverlap, parseCidr } from './cidr.js';
import {
  DEVICE_OWNER_ROUTER_GATEWAY,
  DEVICE_OWNER_ROUTER_INTERFACE,
  type ExternalGateway,
  type Port,
  type Router,
  type Subnet,
} from './entities.js';
import { badRequest, conflict, notFound, SfipError } from './errors.js';
import { fipOfRouterKey, portsOfDeviceKey, routerPlacementKey } from './index-keys.js';
import { AddressRequest } from './ip-assignment.js';
import { parseDeviceName, parseNamespaceName } from './names.js';
import { createRouterPort, portExhausted } from './ports.js';
import { CommonInput, getVisible, newResource, revise, notFoundError, visibleTo } from './resource.js';
import type { Context, Tx, View } from './tx.js';
import { parseBackendName } from './backends.js';
import { pickNode } from './scheduling.js';

export interface GatewayInput {
  readonly networkId: string;
  readonly externalFixedIps?: readonly AddressRequest[];
}

export interface RouterInput extends CommonInput {
  readonly namespace?: string | null;
  readonly gatewayDevice?: string | null;
  readonly externalGateway?: GatewayInput | null;
  readonly adminStateUp?: boolean;
  readonly backend?: string | null;
  readonly antiSpoofing?: boolean;
  readonly fastPath?: boolean;
}

/**
 * Where a router lives on this host (namespace, gateway device, backend) decides which kernel objects the agent
 * programs, so only an admin may set it: a project must not point the agent at another project's namespace.
 */
function checkPlacementPolicy(ctx: Context, input: RouterInput): void {
  if (ctx.isAdmin) return;
  // anti_spoofing too: turning it off would let a project's VMs send with forged sources through the gateway.
  // fast_path too: it changes how this host's kernel carries every router's packets, like the backend.
  const set = (['namespace', 'gatewayDevice', 'backend', 'antiSpoofing', 'fastPath'] as const).filter(
    (k) => input[k] !== undefined,
  );
  if (set.length > 0) {
    const names = {
      namespace: 'namespace',
      gatewayDevice: 'gateway_device',
      backend: 'backend',
      antiSpoofing: 'anti_spoofing',
      fastPath: 'fast_path',
    };
    throw new SfipError(
      'PolicyNotAuthorized',
      403,
      `Only an admin may set a router's ${set.map((k) => names[k]).join(', ')}.`,
    );
  }
}

export function createRouter(tx: Tx, ctx: Context, input: RouterInput): Router {
  checkPlacementPolicy(ctx, input);
  const base = newResource(ctx, input);
  const draft: Router = {
    ...base,
    namespace: input.namespace == null ? null : parseNamespaceName(input.namespace),
    gatewayDevice: input.gatewayDevice == null ? null : parseDeviceName(input.gatewayDevice),
    externalGateway: null,
    adminStateUp: input.adminStateUp ?? true,
    backend: input.backend == null ? null : parseBackendName(input.backend),
    antiSpoofing: input.antiSpoofing ?? true,
    fastPath: input.fastPath ?? true,
    node: pickNode(tx),
  };
  checkPlacement(tx, draft);
  const router = input.externalGateway
    ? { ...draft, externalGateway: attachGateway(tx, ctx, draft, input.externalGateway) }
    : draft;
  tx.put('router', router);
  return router;
}

export function updateRouter(tx: Tx, ctx: Context, id: string, input: RouterInput): Router {
  const current = getVisible(tx, ctx, 'router', id);
  checkPlacementPolicy(ctx, input);
  let externalGateway = current.externalGateway;
  if (input.externalGateway !== undefined && !sameGateway(current.externalGateway, input.externalGateway)) {
    if (current.externalGateway) {
      requireNoFloatingIps(
        tx,
        current,
        'RouterExternalGatewayInUseByFloatingIp',
        (n) =>
          `Gateway cannot be updated for router ${id}, since a gateway to external network ${current.externalGateway?.networkId} is required by ${n} floating IP(s).`,
      );
      tx.delete('port', current.externalGateway.portId);
    }
    externalGateway = input.externalGateway ? attachGateway(tx, ctx, current, input.externalGateway) : null;
  }
  const next = revise(ctx, current, {
    ...(input.name !== undefined && { name: input.name }),
    ...(input.description !== undefined && { description: input.description }),
    ...(input.tags !== undefined && { tags: [...new Set(input.tags)] }),
    ...(input.adminStateUp !== undefined && { adminStateUp: input.adminStateUp }),
    ...(input.antiSpoofing !== undefined && { antiSpoofing: input.antiSpoofing }),
    ...(input.fastPath !== undefined && { fastPath: input.fastPath }),
    ...(input.namespace !== undefined && {
      namespace: input.namespace === null ? null : parseNamespaceName(input.namespace),
    }),
    ...(input.gatewayDevice !== undefined && {
      gatewayDevice: input.gatewayDevice === null ? null : parseDeviceName(input.gatewayDevice),
    }),
    ...(input.backend !== undefined && {
      backend: input.backend === null ? null : parseBackendName(input.backend),
    }),
    externalGateway,
  });
  checkPlacement(tx, next);
  tx.put('router', next);
  return next;
}

export function deleteRouter(tx: Tx, ctx: Context, id: string): void {
  const router = getVisible(tx, ctx, 'router', id);
  if (interfacePorts(tx, router).length > 0) {
    throw conflict('RouterInUse', `Router ${id} still has ports`);
  }
  requireNoFloatingIps(tx, router, 'RouterInUse', (n) => `Router ${id} still carries ${n} floating IP(s)`);
  if (router.externalGateway) tx.delete('port', router.externalGateway.portId);
  tx.delete('router', id);
}

export interface InterfaceInfo {
  readonly routerId: string;
  readonly portId: string;
  readonly subnetId: string;
  readonly networkId: string;
  readonly projectId: string;
}

export function addRouterInterface(
  tx: Tx,
  ctx: Context,
  routerId: string,
  input: { subnetId?: string; portId?: string },
): InterfaceInfo {
  const router = getVisible(tx, ctx, 'router', routerId);
  if ((input.subnetId === undefined) === (input.portId === undefined)) {
    throw badRequest('Either subnet_id or port_id must be specified, and not both.');
  }
  let port: Port;
  if (input.subnetId !== undefined) {
    const subnet = getVisible(tx, ctx, 'subnet', input.subnetId);
    if (!subnet.gatewayIp) throw badRequest(`Subnet ${subnet.id} does not have a gateway IP.`);
    checkNewInterfaceSubnet(tx, router, subnet);
    port = createRouterPort(tx, ctx, {
      networkId: subnet.networkId,
      fixedIps: [{ subnetId: subnet.id, ipAddress: subnet.gatewayIp }],
      deviceId: router.id,
      deviceOwner: DEVICE_OWNER_ROUTER_INTERFACE,
      projectId: router.projectId,
      adminAttached: ctx.isAdmin,
    });
  } else {
    const existing = getVisible(tx, ctx, 'port', input.portId!);
    if (existing.deviceId !== '' || existing.deviceOwner !== '') {
      throw conflict(
        'PortInUse',
        `Port ${existing.id} is already in use by device ${existing.deviceId || existing.deviceOwner}.`,
      );
    }
    if (existing.fixedIps.length !== 1) {
      throw badRequest(`Port ${existing.id} must have exactly one fixed IP to be a router interface.`);
    }
    // The subnet must be the caller's too, as on the subnet path: a port an admin placed on another project's
    // network must not let its project join that network to its own router.
    const subnet = getVisible(tx, ctx, 'subnet', existing.fixedIps[0]!.subnetId);
    checkNewInterfaceSubnet(tx, router, subnet);
    port = revise(ctx, existing, {
      deviceId: router.id,
      deviceOwner: DEVICE_OWNER_ROUTER_INTERFACE,
      // Whoever attaches decides: an admin's mark from placing the port does not carry over to a project's attach.
      ...((ctx.isAdmin || existing.adminAttached !== undefined) && { adminAttached: ctx.isAdmin }),
    });
    tx.put('port', port);
  }
  tx.put('router', revise(ctx, router, {}));
  return interfaceInfo(router, port);
}

export function removeRouterInterface(
  tx: Tx,
  ctx: Context,
  routerId: string,
  input: { subnetId?: string; portId?: string },
): InterfaceInfo {
  const router = getVisible(tx, ctx, 'router', routerId);
  if (input.subnetId === undefined && input.portId === undefined) {
    throw badRequest('Either subnet_id or port_id must be specified.');
  }
  const port = interfacePorts(tx, router).find((p) =>
    input.portId !== undefined
      ? p.id === input.portId
      : p.fixedIps.some((ip) => ip.subnetId === input.subnetId),
  );
  if (!port) {
    throw input.portId !== undefined
      ? notFound(
          'RouterInterfaceNotFound',
          `Router ${routerId} does not have an interface with id ${input.portId}`,
        )
      : notFound(
          'RouterInterfaceNotFoundForSubnet',
          `Router ${routerId} has no interface on subnet ${input.subnetId ?? '(none given)'}`,
        );
  }
  const subnetIds = new Set(port.fixedIps.map((ip) => ip.subnetId));
  const users = floatingIpsOf(tx, router.id).filter((fip) => {
    const fixedPort = fip.portId ? tx.get('port', fip.portId) : undefined;
    const forwarded = (fip.portForwardings ?? []).some((pf) =>
      tx
        .get('port', pf.internalPortId)
        ?.fixedIps.some((ip) => ip.ipAddress === pf.internalIpAddress && subnetIds.has(ip.subnetId)),
    );
    return (
      forwarded ||
      fixedPort?.fixedIps.some((ip) => ip.ipAddress === fip.fixedIpAddress && subnetIds.has(ip.subnetId))
    );
  });
  if (users.length > 0) {
    throw conflict(
      'RouterInterfaceInUseByFloatingIP',
      `Router interface for subnet ${[...subnetIds].join(',')} on router ${routerId} cannot be deleted, as it is required by one or more floating IPs.`,
    );
  }
  tx.delete('port', port.id);
  tx.put('router', revise(ctx, router, {}));
  return interfaceInfo(router, port);
}

function interfaceInfo(router: Router, port: Port): InterfaceInfo {
  return {
    routerId: router.id,
    portId: port.id,
    subnetId: port.fixedIps[0]!.subnetId,
    networkId: port.networkId,
    projectId: router.projectId,
  };
}

/**
 * The ports that join a router to its internal subnets. Only those that may legitimately belong together count:
 * an interface of the router's own project, or one an admin attached. Anything else pointing its device_id at
 * the router (a graft stored before the model refused it, another writer) is ignored by every lookup: floating-IP
 * router selection, the agent's desired state, detaching.
 */
export function interfacePorts(view: View, router: Router): Port[] {
  return view
    .lookup(portsOfDeviceKey(router.id))
    .map((ref) => view.get('port', ref.id))
    .filter((p): p is Port => p !== undefined && isTrustedInterface(router, p));
}

export function isTrustedInterface(router: Router, port: Port): boolean {
  return (
    port.deviceOwner === DEVICE_OWNER_ROUTER_INTERFACE &&
    port.deviceId === router.id &&
    (port.projectId === router.projectId || port.adminAttached === true)
  );
}

export function interfaceSubnets(view: View, router: Router): Subnet[] {
  return interfacePorts(view, router)
    .flatMap((p) => p.fixedIps.map((ip) => view.get('subnet', ip.subnetId)))
    .filter((s): s is Subnet => s !== undefined);
}

function floatingIpsOf(view: View, routerId: string) {
  return view
    .lookup(fipOfRouterKey(routerId))
    .map((ref) => view.get('floatingip', ref.id))
    .filter((f) => f !== undefined);
}

function requireNoFloatingIps(
  tx: Tx,
  router: Router,
  type: string,
  message: (count: number) => string,
): void {
  const count = floatingIpsOf(tx, router.id).length;
  if (count > 0) throw conflict(type, message(count));
}

function checkNewInterfaceSubnet(tx: Tx, router: Router, subnet: Subnet): void {
  const network = tx.get('network', subnet.networkId);
  if (network?.external) {
    throw badRequest(
      `Subnet ${subnet.id} is on external network ${network.id}; use it as the router's gateway.`,
    );
  }
  for (const existing of interfaceSubnets(tx, router)) {
    if (existing.id === subnet.id) {
      throw badRequest(`Router already has a port on subnet ${subnet.id}`);
    }
    if (cidrsOverlap(parseCidr(existing.cidr), parseCidr(subnet.cidr))) {
      throw badRequest(
        `Cidr ${subnet.cidr} of subnet ${subnet.id} overlaps with cidr ${existing.cidr} of subnet ${existing.id}`,
      );
    }
  }
}

function checkPlacement(view: View, router: Router): void {
  if (!router.gatewayDevice) return;
  const holders = view
    .lookup(routerPlacementKey(router.namespace, router.gatewayDevice))
    .filter((ref) => ref.id !== router.id);
  if (holders.length > 0) {
    throw conflict(
      'GatewayDeviceInUse',
      `Gateway device ${router.gatewayDevice} in namespace ${router.namespace ?? '(host)'} is already used by router ${holders[0]!.id}`,
    );
  }
}

function attachGateway(tx: Tx, ctx: Context, router: Router, input: GatewayInput): ExternalGateway {
  // A project's own internal network is "not external"; another project's is unknown, exactly as a missing one.
  const network = tx.get('network', input.networkId);
  if (!network || !(network.external || visibleTo(ctx, network)))
    throw notFoundError('network', input.networkId);
  if (!network.external) {
    throw badRequest(`Network ${network.id} is not a valid external network`);
  }
  if (input.externalFixedIps?.some((ip) => ip.ipAddress !== undefined) && !ctx.isAdmin) {
    throw new SfipError(
      'PolicyNotAuthorized',
      403,
      'Only an admin may choose the external fixed IP of a router gateway.',
    );
  }
  const port = createRouterPort(
    tx,
    { ...ctx, isAdmin: true },
    {
      networkId: network.id,
      fixedIps: input.externalFixedIps?.length ? input.externalFixedIps : [{}],
      deviceId: router.id,
      deviceOwner: DEVICE_OWNER_ROUTER_GATEWAY,
      projectId: '',
    },
  );
  return { networkId: network.id, portId: port.id, fixedIps: port.fixedIps };
}

function sameGateway(current: ExternalGateway | null, input: GatewayInput | null): boolean {
  if (current === null || input === null) return current === input;
  if (current.networkId !== input.networkId) return false;
  return (
    input.externalFixedIps === undefined ||
    input.externalFixedIps.every((req) =>
      current.fixedIps.some(
        (ip) =>
          (req.ipAddress === undefined || ip.ipAddress === req.ipAddress) &&
          (req.subnetId === undefined || ip.subnetId === req.subnetId),
      ),
    )
  );
}

export { portExhausted };
