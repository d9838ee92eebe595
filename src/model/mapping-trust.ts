import type { FloatingIp, Port, Router } from './entities.js';
import { interfacePorts } from './routers.js';
import type { View } from './tx.js';

/**
 * The trust checks of one router, for many floating IPs in one read: its trusted interfaces are read once, and
 * each subnet's interface found once, not for every floating IP (a full pass checks 100,000 of them).
 */
export interface RouterTrust {
  /**
   * The port a floating IP maps, when the chain from it to this router is trusted; otherwise why the floating IP
   * must not be programmed here. Re-checks, from what is stored, the chain the model built when the floating IP was
   * associated: floating IP -> port -> fixed IP -> subnet -> interface of this router. Every link joins resources
   * of one project, or an admin made it (`adminAssociated`, `adminAttached`). A store written another way (an
   * older sfip that let a project graft its interface onto another project's router, a hand edit, another writer)
   * cannot put a project's mapping into a foreign router. The port comes back so that its MAC needs no second read.
   */
  mappedPort(fip: FloatingIp): Port | string;
  /** The same checks as `mappedPort`, given the floating IP's port (read ahead by the caller): '' when trusted. */
  portProblem(fip: FloatingIp, port: Port): string;
  /** See `forwardingProblem`. */
  forwardingProblem(fip: FloatingIp): string;
}

/**
 * Each subnet's trusted interface on a router: the first of its trusted interfaces holding the subnet, what a
 * search of the interfaces in their order finds. Routers and ports alone decide it (see View.structural).
 */
export function trustedJoints(view: View, router: Router): ReadonlyMap<string, Port> {
  const joints = new Map<string, Port>();
  for (const i of interfacePorts(view, router))
    for (const ip of i.fixedIps) if (!joints.has(ip.subnetId)) joints.set(ip.subnetId, i);
  return joints;
}

/** `joints`: trustedJoints of this router in this view, when the caller has them. */
export function routerTrust(
  view: View,
  router: Router,
  joints: ReadonlyMap<string, Port> = trustedJoints(view, router),
): RouterTrust {
  const portProblem = (fip: FloatingIp, port: Port): string => {
    const fixed = port.fixedIps.find((ip) => ip.ipAddress === fip.fixedIpAddress);
    if (!fixed) return `port ${port.id} does not hold fixed IP ${fip.fixedIpAddress}`;
    const joint = joints.get(fixed.subnetId);
    if (!joint) {
      return `subnet ${fixed.subnetId} of fixed IP ${fip.fixedIpAddress} is not attached to router ${router.id} by its project or an admin`;
    }
    if (fip.projectId !== port.projectId && fip.adminAssociated !== true) {
      return `floating IP ${fip.floatingIpAddress} of project ${fip.projectId} maps port ${port.id} of project ${port.projectId}, and no admin associated them`;
    }
    if (!reachesRouter(router, port, joint)) {
      return `port ${port.id} of project ${port.projectId} reaches router ${router.id} of project ${router.projectId}, and no admin joined them`;
    }
    return '';
  };
  return {
    portProblem: (fip, port) =>
      !fip.portId || !fip.fixedIpAddress ? `floating IP ${fip.id} is not associated` : portProblem(fip, port),
    mappedPort: (fip) => {
      if (!fip.portId || !fip.fixedIpAddress) return `floating IP ${fip.id} is not associated`;
      const port = view.get('port', fip.portId);
      if (!port) return `port ${fip.portId} of floating IP ${fip.floatingIpAddress} does not exist`;
      return portProblem(fip, port) || port;
    },
    forwardingProblem: (fip) => {
      for (const pf of fip.portForwardings ?? []) {
        const port = view.get('port', pf.internalPortId);
        if (!port) return `port ${pf.internalPortId} of port forwarding ${pf.id} does not exist`;
        const fixed = port.fixedIps.find((ip) => ip.ipAddress === pf.internalIpAddress);
        if (!fixed)
          return `port ${port.id} does not hold internal IP ${pf.internalIpAddress} of port forwarding ${pf.id}`;
        const joint = joints.get(fixed.subnetId);
        if (!joint) {
          return `subnet ${fixed.subnetId} of internal IP ${pf.internalIpAddress} is not attached to router ${router.id} by its project or an admin`;
        }
        if (fip.projectId !== port.projectId && pf.adminCreated !== true) {
          return `floating IP ${fip.floatingIpAddress} of project ${fip.projectId} forwards to port ${port.id} of project ${port.projectId}, and no admin created that`;
        }
        if (!reachesRouter(router, port, joint)) {
          return `port ${port.id} of project ${port.projectId} reaches router ${router.id} of project ${router.projectId}, and no admin joined them`;
        }
      }
      return '';
    },
  };
}

/** A port of another project reaches the router only through an interface or a port an admin placed. */
function reachesRouter(router: Router, port: Port, joint: Port): boolean {
  return port.projectId === router.projectId || joint.adminAttached === true || port.adminAttached === true;
}

/**
 * Why a floating IP's port forwardings must not be programmed on a router, or '' when they may: the same chain
 * as `RouterTrust.mappedPort`, checked for every forwarding (port, its fixed IP, a trusted interface of this router,
 * one project or an admin's doing).
 */
export function forwardingProblem(view: View, router: Router, fip: FloatingIp): string {
  return routerTrust(view, router).forwardingProblem(fip);
}
