import type { BgpSpeaker, FloatingIp, Router } from './entities.js';
import { bgpSpeakersOfNetworkKey, fipOfRouterKey, routersOfNetworkKey } from './index-keys.js';
import { compareIPv4, type IPv4 } from './ipv4.js';
import type { View } from './tx.js';

/** One host route a speaker advertises: a floating IP's /32 via its router's gateway address. */
export interface BgpHostRoute {
  readonly destination: string;
  readonly nextHop: IPv4;
}

/** The router's address on its external network: the next hop upstream routers send floating IP traffic to. */
export function routerGatewayIp(router: Router): IPv4 | null {
  return router.externalGateway?.fixedIps[0]?.ipAddress ?? null;
}

/** A floating IP is a host route when it is associated with a fixed port (as neutron-dynamic-routing requires). */
const routed = (fip: FloatingIp): boolean => fip.portId !== null && fip.fixedIpAddress !== null;

function routesOfRouter(view: View, router: Router, activeOnly: boolean): BgpHostRoute[] {
  const nextHop = routerGatewayIp(router);
  if (!nextHop) return [];
  return view
    .find('floatingip', fipOfRouterKey(router.id))
    .filter((f) => routed(f) && (!activeOnly || f.status === 'ACTIVE'))
    .map((f) => ({ destination: `${f.floatingIpAddress}/32`, nextHop }));
}

const byDestination = (a: BgpHostRoute, b: BgpHostRoute) =>
  compareIPv4(a.destination.split('/')[0] as IPv4, b.destination.split('/')[0] as IPv4);

/**
 * neutron-dynamic-routing's get_advertised_routes for floating IPs: the /32 of every floating IP with a fixed
 * port whose router's gateway is on one of the speaker's gateway networks. Tenant networks are advertised by
 * Neutron only within a shared address scope; sfip has no address scopes, so none are.
 */
export function advertisedRoutes(view: View, speaker: BgpSpeaker): BgpHostRoute[] {
  if (!speaker.advertiseFloatingIpHostRoutes) return [];
  return speaker.networkIds
    .flatMap((networkId) => view.find('router', routersOfNetworkKey(networkId)))
    .flatMap((router) => routesOfRouter(view, router, false))
    .sort(byDestination);
}

/** The speakers that advertise a router's floating IPs: those with its gateway network. */
export function speakersOfRouter(view: View, router: Router): BgpSpeaker[] {
  const networkId = router.externalGateway?.networkId;
  if (!networkId) return [];
  return view
    .find('bgpspeaker', bgpSpeakersOfNetworkKey(networkId))
    .filter((s) => s.advertiseFloatingIpHostRoutes);
}

/**
 * What the agent that carries a router announces for it: the ACTIVE floating IPs with a fixed port, when a
 * speaker covers the router's gateway network. A floating IP that the dataplane could not program (ERROR) or
 * that is DOWN is not reachable through this router, so it is not announced.
 */
export function hostRoutesOfRouter(view: View, router: Router): BgpHostRoute[] {
  if (speakersOfRouter(view, router).length === 0) return [];
  return routesOfRouter(view, router, true).sort(byDestination);
}
