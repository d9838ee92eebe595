import { Command } from 'commander';
import type { ApiClient, Json } from '../../client/api-client.js';
import { ApiError } from '../../client/api-client.js';
import { printList, printObject } from '../output.js';
import { clientOf, outputOf } from './common.js';

/** `sfip fip forward add|list|remove`: port forwardings of a floating IP (docs/port-forwarding.md). */

const COLUMNS: [string, string][] = [
  ['ID', 'id'],
  ['Protocol', 'protocol'],
  ['External', 'external_port_range'],
  ['Internal IP', 'internal_ip_address'],
  ['Internal', 'internal_port_range'],
  ['Port', 'internal_port_id'],
  ['Description', 'description'],
];

/** `22` goes as a port number, `8000:8099` as a range; anything else goes as given, for the API to name. */
function ports(value: string, name: 'internal' | 'external'): Json {
  return /^[0-9]{1,5}$/.test(value) ? { [`${name}_port`]: Number(value) } : { [`${name}_port_range`]: value };
}

/** The VM port holding an internal address (router ports excluded), unless --port names it. */
async function internalPort(api: ApiClient, port: string | undefined, address: string): Promise<string> {
  if (port) return String((await api.find('ports', 'port', port)).id);
  const found = (
    await api.get<{ ports: Json[] }>(`/v2.0/ports?fixed_ips=${encodeURIComponent(`ip_address=${address}`)}`)
  ).ports.filter((p) => !String(p.device_owner).startsWith('network:'));
  if (found.length === 0) throw new ApiError(404, 'PortNotFound', `No port has fixed IP ${address}`);
  if (found.length > 1) {
    throw new ApiError(409, 'Ambiguous', `Several ports have fixed IP ${address}: choose one with --port`);
  }
  return String(found[0]!.id);
}

export function forwardCommand(): Command {
  const forward = new Command('forward').description(
    'Port forwardings: share one floating IP among VMs by protocol and port',
  );

  forward
    .command('add')
    .description('Forward external ports of a floating IP to an internal address and ports')
    .argument('<floating-ip>', 'address or id')
    .requiredOption('--protocol <protocol>', 'tcp or udp')
    .requiredOption('--external <ports>', 'external port, or range a:b')
    .requiredOption('--internal-ip <ip>', 'the internal (fixed) address')
    .requiredOption('--internal <ports>', 'internal port, or range a:b (same size, or one port)')
    .option(
      '--port <port>',
      'the port holding the internal address (name or id); found by address if omitted',
    )
    .option('--description <text>')
    .action(async (ref: string, o: Record<string, string | undefined>, cmd: Command) => {
      const api = clientOf(cmd);
      const fip = await api.find('floatingips', 'floatingip', ref);
      const body = {
        protocol: o.protocol,
        internal_ip_address: o.internalIp,
        internal_port_id: await internalPort(api, o.port, o.internalIp!),
        ...ports(o.external!, 'external'),
        ...ports(o.internal!, 'internal'),
        ...(o.description !== undefined && { description: o.description }),
      };
      const created = await api.post<{ port_forwarding: Json }>(
        `/v2.0/floatingips/${String(fip.id)}/port_forwardings`,
        { port_forwarding: body },
      );
      printObject('port_forwarding', created.port_forwarding, outputOf(cmd));
    });

  forward
    .command('list')
    .description("List a floating IP's port forwardings")
    .argument('<floating-ip>', 'address or id')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const api = clientOf(cmd);
      const fip = await api.find('floatingips', 'floatingip', ref);
      const rows = (
        await api.get<{ port_forwardings: Json[] }>(`/v2.0/floatingips/${String(fip.id)}/port_forwardings`)
      ).port_forwardings;
      printList('port_forwardings', rows, COLUMNS, outputOf(cmd));
    });

  forward
    .command('remove')
    .description('Remove port forwardings')
    .argument('<floating-ip>', 'address or id')
    .argument('<forwarding...>', 'port forwarding ids')
    .action(async (ref: string, ids: string[], _o: unknown, cmd: Command) => {
      const api = clientOf(cmd);
      const fip = await api.find('floatingips', 'floatingip', ref);
      for (const id of ids) {
        await api.delete(`/v2.0/floatingips/${String(fip.id)}/port_forwardings/${encodeURIComponent(id)}`);
        if (!outputOf(cmd).json)
          console.log(`Removed port forwarding ${id} of ${String(fip.floating_ip_address)}`);
      }
    });
  return forward;
}
