import {
  isDeviceName,
  isIPv4,
  isMacAddress,
  isNamespaceName,
  isUuid,
  parseCidr,
  formatCidr,
} from '../model/index.js';
import type { DesiredRouter, RouterTarget } from './types.js';

/**
 * The last check before anything from the store or the agent's record file reaches a kernel tool. The API and
 * the model validate every name and address on the way in; this catches what arrived another way (a database
 * edited by hand, another store writer, a tampered agent-routers.json), because these strings end up inside
 * nft, iptables-restore and `ip -batch` files, where a newline or a quote would be a command of its own.
 * Returns what is wrong, naming the value, or '' when everything is safe to hand to a kernel tool.
 */
export function targetProblem(target: RouterTarget): string {
  if (!isUuid(target.routerId)) return `router id '${target.routerId}' is not a lower-case UUID`;
  if (target.namespace !== null && !isNamespaceName(target.namespace)) {
    return `namespace '${target.namespace}' of router ${target.routerId} is not a valid network namespace name`;
  }
  if (!isDeviceName(target.gatewayDevice)) {
    return `gateway_device '${target.gatewayDevice}' of router ${target.routerId} is not a valid device name`;
  }
  return '';
}

export function desiredProblem(desired: DesiredRouter): string {
  const target = targetProblem(desired);
  if (target) return target;
  const where = `router ${desired.routerId}`;
  if (!isIPv4(desired.gatewayIp))
    return `gateway IP '${desired.gatewayIp}' of ${where} is not a dotted-quad IPv4 address`;
  for (const cidr of desired.internalCidrs) {
    let canonical = '';
    try {
      canonical = formatCidr(parseCidr(cidr));
    } catch {
      /* reported below */
    }
    if (canonical !== cidr) return `internal subnet '${cidr}' of ${where} is not a canonical IPv4 CIDR`;
  }
  for (const m of desired.mappings) {
    if (!isIPv4(m.floatingIp))
      return `floating IP '${m.floatingIp}' of ${where} is not a dotted-quad IPv4 address`;
    if (!isIPv4(m.fixedIp)) return `fixed IP '${m.fixedIp}' of ${where} is not a dotted-quad IPv4 address`;
    if (m.fixedMac !== undefined && !isMacAddress(m.fixedMac)) {
      return `MAC address '${m.fixedMac}' of fixed IP ${m.fixedIp} (${where}) is not a valid MAC address`;
    }
    for (const l of m.limits ?? []) {
      // Rates go into nft text as numbers (bandwidth times 125, in bytes): whole, positive and far from 2^53.
      const whole = (n: number) => Number.isSafeInteger(n) && n >= 1 && n <= 1e12;
      const known =
        (l.direction === 'ingress' || l.direction === 'egress') &&
        (l.unit === 'kbit' || l.unit === 'packets');
      if (!known || !whole(l.rate) || !whole(l.burst))
        return `rate limit ${JSON.stringify(l.direction)} ${l.rate}/${l.burst} ${JSON.stringify(l.unit)} of floating IP ${m.floatingIp} (${where}) is not a valid limit`;
    }
  }
  for (const f of desired.forwardings ?? []) {
    const port = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
    if (!isIPv4(f.floatingIp) || !isIPv4(f.fixedIp))
      return `port forwarding ${f.floatingIp} -> ${f.fixedIp} of ${where} has an address that is not dotted-quad IPv4`;
    if (f.protocol !== 'tcp' && f.protocol !== 'udp')
      return `port forwarding protocol '${String(f.protocol)}' of ${where} is not tcp or udp`;
    const ports = [f.externalPortStart, f.externalPortEnd, f.internalPortStart, f.internalPortEnd];
    if (
      !ports.every(port) ||
      f.externalPortEnd < f.externalPortStart ||
      f.internalPortEnd < f.internalPortStart
    )
      return `port forwarding ports ${ports.join(',')} of ${where} are not valid port ranges`;
  }
  return '';
}
