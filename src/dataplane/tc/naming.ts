import { invalidInput } from '../../model/errors.js';
import { parseDeviceName } from '../../model/names.js';
import type { RouterTarget } from '../types.js';

const ROUTER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Router ids end up in tc batch lines, iptables chain names and ipset names, so they must be exactly a UUID:
 * anything else could be read as another command or option by those tools.
 */
export function parseRouterId(id: string): string {
  if (!ROUTER_ID.test(id))
    throw invalidInput(`'${id}' is not a router id the tc backend can use: expected a UUID`);
  return id;
}

/** Validates a target before any of its parts is written into batch text. */
export function checkTarget(target: RouterTarget): void {
  parseRouterId(target.routerId);
  parseDeviceName(target.gatewayDevice, 'gateway_device');
}

/** Every nat action sfip installs carries the router id as its 16-byte tc cookie: that is how sfip knows it owns it. */
export function routerCookie(routerId: string): string {
  return parseRouterId(routerId).replace(/-/g, '');
}

export function routerIdOfCookie(cookie: string): string | undefined {
  if (!/^[0-9a-f]{32}$/.test(cookie)) return undefined;
  const h = cookie;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Short per-router tag for iptables chain names (at most 28 characters) and ipset names (at most 31). */
function tag(routerId: string): string {
  return routerCookie(routerId).slice(0, 16);
}

export interface NetfilterNames {
  /** raw PREROUTING: where packets of floating IPs are untracked. */
  readonly rawChain: string;
  /** nat PREROUTING: hairpin DNAT guard. */
  readonly natPreChain: string;
  /** nat, per mapping: floating -> fixed for hairpin connections from VMs without a floating IP. */
  readonly hairpinDnatChain: string;
  /** nat POSTROUTING: shared SNAT, also for hairpin connections from VMs without a floating IP. */
  readonly natPostChain: string;
  /** ipset of fixed addresses that have a floating IP. */
  readonly fixedSet: string;
  /** ipset of floating addresses. */
  readonly floatingSet: string;
  /** Comment on the jumps from the built-in chains: it carries the full router id. */
  readonly jumpComment: string;
}

export const JUMP_COMMENT_PREFIX = 'sfip-tc:';

export function netfilterNames(routerId: string): NetfilterNames {
  const t = tag(routerId);
  return {
    rawChain: `SFIPTC-${t}-R`,
    natPreChain: `SFIPTC-${t}-P`,
    hairpinDnatChain: `SFIPTC-${t}-D`,
    natPostChain: `SFIPTC-${t}-S`,
    fixedSet: `sfiptc-${t}-fx`,
    floatingSet: `sfiptc-${t}-fl`,
    jumpComment: `${JUMP_COMMENT_PREFIX}${parseRouterId(routerId)}`,
  };
}
