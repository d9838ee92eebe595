import type { ApiClient, Json } from '../../src/client/api-client.js';
import type { ChurnLab } from '../churn/churn-lab.js';

/** One API write of a burst, and a label for the report. */
export interface PlannedWrite {
  readonly label: string;
  readonly call: (api: ApiClient) => Promise<unknown>;
}

/**
 * Random API writes (create, associate, move, disassociate, delete) on the floating IPs beyond the first
 * `stable` addresses and ports: up to `max` of them, each on its own address and port.
 */
export function planWrites(
  random: () => number,
  lab: ChurnLab,
  fips: Json[],
  max: number,
  stable: number,
): PlannedWrite[] {
  const churnPool = lab.pool.slice(stable);
  const churnPorts = lab.ports.slice(stable);
  const byAddress = new Map(fips.map((f) => [String(f.floating_ip_address), f]));
  const usedPorts = new Set(fips.map((f) => f.fixed_ip_address).filter(Boolean));
  const freePorts = churnPorts.filter((p) => !usedPorts.has(p.fixedIp));
  const take = <T>(xs: T[]) => xs.splice(Math.floor(random() * xs.length), 1)[0];
  const addresses = [...churnPool];
  const writes: PlannedWrite[] = [];
  const count = 1 + Math.floor(random() * max);
  while (writes.length < count && addresses.length > 0) {
    const address = take(addresses)!;
    const fip = byAddress.get(address);
    if (!fip) {
      const port = random() < 0.8 ? take(freePorts) : undefined;
      writes.push({
        label: `create ${address}`,
        call: (api) =>
          api.post('/v2.0/floatingips', {
            floatingip: {
              floating_network_id: lab.router.externalNetworkId,
              floating_ip_address: address,
              ...(port && { port_id: port.portId, fixed_ip_address: port.fixedIp }),
            },
          }),
      });
      continue;
    }
    const x = random();
    const port = x < 0.55 ? take(freePorts) : undefined;
    if (port) {
      writes.push({
        label: `${fip.port_id ? 'move' : 'associate'} ${address}`,
        call: (api) =>
          api.put(`/v2.0/floatingips/${String(fip.id)}`, {
            floatingip: { port_id: port.portId, fixed_ip_address: port.fixedIp },
          }),
      });
    } else if (x < 0.75 && fip.port_id) {
      writes.push({
        label: `disassociate ${address}`,
        call: (api) => api.put(`/v2.0/floatingips/${String(fip.id)}`, { floatingip: { port_id: null } }),
      });
    } else {
      writes.push({
        label: `delete ${address}`,
        call: (api) => api.delete(`/v2.0/floatingips/${String(fip.id)}`),
      });
    }
  }
  return writes;
}
