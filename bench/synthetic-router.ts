import type { DesiredRouter } from '../src/dataplane/types.js';
import { ipv4FromUint32, ipv4ToUint32, parseIPv4 } from '../src/model/index.js';

const FLOATING_BASE = ipv4ToUint32(parseIPv4('100.64.0.0'));
const FIXED_BASE = ipv4ToUint32(parseIPv4('10.0.0.0'));

/**
 * A router with N synthetic floating IPs for the single-namespace benchmarks. Floating addresses come from
 * 100.64.0.0/10 (shared address space, never routed on the Internet) and nothing leaves the namespace.
 */
export function syntheticRouter(routerId: string, namespace: string, n: number): DesiredRouter {
  return {
    routerId,
    namespace,
    gatewayDevice: 'qg-bench',
    gatewayIp: parseIPv4('192.0.2.2'),
    internalCidrs: ['10.0.0.0/8'],
    mappings: Array.from({ length: n }, (_, i) => ({
      floatingIp: ipv4FromUint32(FLOATING_BASE + 1 + i),
      fixedIp: ipv4FromUint32(FIXED_BASE + 1 + i),
    })),
  };
}
