import { Command } from 'commander';
import type { ApiClient, Json } from '../../client/api-client.js';
import { ApiError } from '../../client/api-client.js';
import { printList, printObject } from '../output.js';
import { clientOf, collect, outputOf } from './common.js';
import { forwardCommand } from './fip-forward.js';

const COLUMNS: [string, string][] = [
  ['ID', 'id'],
  ['Floating IP', 'floating_ip_address'],
  ['Fixed IP', 'fixed_ip_address'],
  ['Port', 'port_id'],
  ['Router', 'router_id'],
  ['Status', 'status'],
  ['Description', 'description'],
];

/** A port given by id or name, or found by one of its fixed IPs. */
async function resolvePort(
  api: ApiClient,
  port: string | undefined,
  fixedIp: string | undefined,
): Promise<string | undefined> {
  if (port) return String((await api.find('ports', 'port', port)).id);
  if (!fixedIp) return undefined;
  const ports = (
    await api.get<{ ports: Json[] }>(`/v2.0/ports?fixed_ips=${encodeURIComponent(`ip_address=${fixedIp}`)}`)
  ).ports;
  const candidates = ports.filter((p) => !String(p.device_owner).startsWith('network:'));
  if (candidates.length === 0) throw new ApiError(404, 'PortNotFound', `No port has fixed IP ${fixedIp}`);
  if (candidates.length > 1) {
    throw new ApiError(409, 'Ambiguous', `Several ports have fixed IP ${fixedIp}: choose one with --port`);
  }
  return String(candidates[0]!.id);
}

export function fipCommand(): Command {
  const fip = new Command('fip')
    .alias('floating-ip')
    .description('Floating IPs: create, associate, move, delete');

  fip
    .command('create')
    .description('Allocate a floating IP from an external network, optionally associating it')
    .argument('<network>', 'external network (name or id)')
    .option('--address <ip>', 'a specific floating address (admin only)')
    .option('--subnet <subnet>', 'allocate from this subnet of the network')
    .option('--port <port>', 'associate with this port (name or id)')
    .option('--fixed-ip <ip>', "the port's fixed IP to use; alone, finds the port that has it")
    .option('--description <text>')
    .option('--tag <tag>', 'tag (repeatable)', collect)
    .action(async (network: string, o: Record<string, string | string[] | undefined>, cmd: Command) => {
      const api = clientOf(cmd);
      const net = await api.find('networks', 'network', network);
      const portId = await resolvePort(api, o.port as string | undefined, o.fixedIp as string | undefined);
      const body = {
        floating_network_id: net.id,
        ...(o.address !== undefined && { floating_ip_address: o.address }),
        ...(o.subnet !== undefined && {
          subnet_id: (await api.find('subnets', 'subnet', o.subnet as string)).id,
        }),
        ...(portId !== undefined && { port_id: portId }),
        ...(o.fixedIp !== undefined && { fixed_ip_address: o.fixedIp }),
        ...(o.description !== undefined && { description: o.description }),
        ...(o.tag !== undefined && { tags: o.tag }),
      };
      printObject(
        (await api.post<{ floatingip: Json }>('/v2.0/floatingips', { floatingip: body })).floatingip,
        outputOf(cmd),
      );
    });

  fip
    .command('list')
    .description('List floating IPs')
    .option('--status <status>', 'ACTIVE, DOWN or ERROR')
    .option('--router <router>', 'only those carried by this router')
    .option('--port <port>', 'only those associated with this port')
    .option('--network <network>', 'only those from this external network')
    .action(async (o: Record<string, string | undefined>, cmd: Command) => {
      const api = clientOf(cmd);
      const query = new URLSearchParams();
      if (o.status) query.set('status', o.status.toUpperCase());
      if (o.router) query.set('router_id', String((await api.find('routers', 'router', o.router)).id));
      if (o.port) query.set('port_id', String((await api.find('ports', 'port', o.port)).id));
      if (o.network)
        query.set('floating_network_id', String((await api.find('networks', 'network', o.network)).id));
      const rows = (await api.get<{ floatingips: Json[] }>(`/v2.0/floatingips?${query}`)).floatingips;
      printList(rows, COLUMNS, outputOf(cmd));
    });

  fip
    .command('show')
    .description('Show one floating IP')
    .argument('<floating-ip>', 'address or id')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      printObject(await clientOf(cmd).find('floatingips', 'floatingip', ref), outputOf(cmd));
    });

  fip
    .command('set')
    .description('Associate a floating IP with a port (or move it), or change its description')
    .argument('<floating-ip>', 'address or id')
    .option('--port <port>', 'associate with this port (name or id)')
    .option('--fixed-ip <ip>', "the port's fixed IP to use; alone, finds the port that has it")
    .option('--description <text>')
    .action(async (ref: string, o: Record<string, string | undefined>, cmd: Command) => {
      const api = clientOf(cmd);
      const current = await api.find('floatingips', 'floatingip', ref);
      const portId = await resolvePort(api, o.port, o.fixedIp);
      const body = {
        ...(portId !== undefined && { port_id: portId }),
        ...(o.fixedIp !== undefined && { fixed_ip_address: o.fixedIp }),
        ...(o.description !== undefined && { description: o.description }),
      };
      if (Object.keys(body).length === 0)
        throw new ApiError(400, 'BadRequest', 'Nothing to set: give --port, --fixed-ip or --description');
      printObject(
        (await api.put<{ floatingip: Json }>(`/v2.0/floatingips/${String(current.id)}`, { floatingip: body }))
          .floatingip,
        outputOf(cmd),
      );
    });

  fip
    .command('unset')
    .description('Disassociate a floating IP from its port')
    .argument('<floating-ip>', 'address or id')
    .option('--port', 'disassociate (the only thing unset removes)', true)
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const api = clientOf(cmd);
      const current = await api.find('floatingips', 'floatingip', ref);
      const body = { floatingip: { port_id: null } };
      printObject(
        (await api.put<{ floatingip: Json }>(`/v2.0/floatingips/${String(current.id)}`, body)).floatingip,
        outputOf(cmd),
      );
    });

  fip
    .command('delete')
    .description('Release floating IPs')
    .argument('<floating-ip...>', 'addresses or ids')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const api = clientOf(cmd);
      for (const ref of refs) {
        const current = await api.find('floatingips', 'floatingip', ref);
        await api.delete(`/v2.0/floatingips/${String(current.id)}`);
        if (!outputOf(cmd).json)
          console.log(`Deleted floating IP ${String(current.floating_ip_address)} (${String(current.id)})`);
      }
    });
  fip.addCommand(forwardCommand());
  return fip;
}
