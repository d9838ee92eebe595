import {
  compareIPv4,
  fipOfRouterKey,
  interfaceSubnets,
  type FloatingIp,
  type Router,
  type View,
} from '../model/index.js';
import { desiredProblem } from './kernel-names.js';
import type { DesiredRouter } from './types.js';

export interface RouterIntent {
  readonly router: Router;
  /** Null when the router cannot be programmed; `problem` says why. */
  readonly desired: DesiredRouter | null;
  readonly problem: string;
  /** The floating IPs whose status this reconcile decides. */
  readonly floatingIps: readonly FloatingIp[];
}

/** Desired dataplane state for one router: a pure function of the store. */
export function routerIntent(view: View, router: Router): RouterIntent {
  const floatingIps = view
    .find('floatingip', fipOfRouterKey(router.id))
    .filter((f) => f.fixedIpAddress !== null)
    .sort((a, b) => compareIPv4(a.floatingIpAddress, b.floatingIpAddress));
  const gatewayIp = router.externalGateway?.fixedIps[0]?.ipAddress;
  const problem = !router.externalGateway
    ? `router ${router.id} has no external gateway`
    : !router.gatewayDevice
      ? `router ${router.id} has no gateway_device, so sfip does not know where to program it`
      : !gatewayIp
        ? `router ${router.id} has no external fixed IP`
        : '';
  if (problem || !router.gatewayDevice || !gatewayIp) return { router, desired: null, problem, floatingIps };
  const desired: DesiredRouter = {
    routerId: router.id,
    namespace: router.namespace,
    gatewayDevice: router.gatewayDevice,
    gatewayIp,
    internalCidrs: [...new Set(interfaceSubnets(view, router.id).map((s) => s.cidr))].sort(),
    mappings: floatingIps.map((f) => {
      const mac = f.portId ? view.get('port', f.portId)?.macAddress : undefined;
      return { floatingIp: f.floatingIpAddress, fixedIp: f.fixedIpAddress!, ...(mac && { fixedMac: mac }) };
    }),
    antiSpoofing: router.antiSpoofing ?? true,
  };
  // Everything in `desired` ends up in kernel batch files: refuse anything that did not come through validation.
  const unsafe = desiredProblem(desired);
  if (unsafe) return { router, desired: null, problem: `refusing to program: ${unsafe}`, floatingIps };
  return { router, problem: '', floatingIps, desired };
}
