import { Command } from 'commander';
import type { Json } from '../../client/api-client.js';
import { printList, printObject } from '../output.js';
import { clientOf, collect, outputOf } from './common.js';

export function networkCommand(): Command {
  const network = new Command('network').description('Networks: external ones are floating-IP pools');
  network
    .command('create')
    .argument('<name>')
    .option('--external', 'a floating-IP pool (router:external)')
    .option('--description <text>')
    .action(async (name: string, o: { external?: boolean; description?: string }, cmd: Command) => {
      const body = {
        name,
        'router:external': Boolean(o.external),
        ...(o.description !== undefined && { description: o.description }),
      };
      printObject(
        (await clientOf(cmd).post<{ network: Json }>('/v2.0/networks', { network: body })).network,
        outputOf(cmd),
      );
    });
  network.command('list').action(async (_o: unknown, cmd: Command) => {
    const rows = (await clientOf(cmd).get<{ networks: Json[] }>('/v2.0/networks')).networks;
    printList(
      rows,
      [
        ['ID', 'id'],
        ['Name', 'name'],
        ['External', 'router:external'],
        ['Subnets', 'subnets'],
      ],
      outputOf(cmd),
    );
  });
  network
    .command('show')
    .argument('<network>')
    .action(async (ref: string, _o: unknown, cmd: Command) =>
      printObject(await clientOf(cmd).find('networks', 'network', ref), outputOf(cmd)),
    );
  network
    .command('delete')
    .argument('<network...>')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const api = clientOf(cmd);
      for (const ref of refs)
        await api.delete(`/v2.0/networks/${String((await api.find('networks', 'network', ref)).id)}`);
    });
  return network;
}

export function subnetCommand(): Command {
  const subnet = new Command('subnet').description('Subnets: address ranges of a network');
  subnet
    .command('create')
    .argument('<name>')
    .requiredOption('--network <network>')
    .requiredOption('--cidr <cidr>', 'e.g. 203.0.113.0/24')
    .option('--gateway <ip>', "the next hop on this subnet, or 'none'")
    .option('--pool <start-end>', 'allocation pool, e.g. 203.0.113.10-203.0.113.200 (repeatable)', collect)
    .action(
      async (
        name: string,
        o: { network: string; cidr: string; gateway?: string; pool?: string[] },
        cmd: Command,
      ) => {
        const api = clientOf(cmd);
        const network = await api.find('networks', 'network', o.network);
        const body = {
          name,
          network_id: network.id,
          cidr: o.cidr,
          ...(o.gateway !== undefined && { gateway_ip: o.gateway === 'none' ? null : o.gateway }),
          ...(o.pool !== undefined && {
            allocation_pools: o.pool.map((p) => {
              const [start, end] = p.split('-');
              return { start: start ?? '', end: end ?? start ?? '' };
            }),
          }),
        };
        printObject(
          (await api.post<{ subnet: Json }>('/v2.0/subnets', { subnet: body })).subnet,
          outputOf(cmd),
        );
      },
    );
  subnet.command('list').action(async (_o: unknown, cmd: Command) => {
    const rows = (await clientOf(cmd).get<{ subnets: Json[] }>('/v2.0/subnets')).subnets;
    printList(
      rows,
      [
        ['ID', 'id'],
        ['Name', 'name'],
        ['Network', 'network_id'],
        ['CIDR', 'cidr'],
        ['Gateway', 'gateway_ip'],
      ],
      outputOf(cmd),
    );
  });
  subnet
    .command('show')
    .argument('<subnet>')
    .action(async (ref: string, _o: unknown, cmd: Command) =>
      printObject(await clientOf(cmd).find('subnets', 'subnet', ref), outputOf(cmd)),
    );
  subnet
    .command('delete')
    .argument('<subnet...>')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const api = clientOf(cmd);
      for (const ref of refs)
        await api.delete(`/v2.0/subnets/${String((await api.find('subnets', 'subnet', ref)).id)}`);
    });
  return subnet;
}

export function portCommand(): Command {
  const port = new Command('port').description('Ports: fixed IPs of VMs on internal networks');
  port
    .command('create')
    .argument('<name>')
    .requiredOption('--network <network>')
    .option('--fixed-ip <ip>', 'a specific fixed IP (repeatable)', collect)
    .option('--device-id <id>')
    .action(
      async (name: string, o: { network: string; fixedIp?: string[]; deviceId?: string }, cmd: Command) => {
        const api = clientOf(cmd);
        const network = await api.find('networks', 'network', o.network);
        const body = {
          name,
          network_id: network.id,
          ...(o.fixedIp && { fixed_ips: o.fixedIp.map((ip) => ({ ip_address: ip })) }),
          ...(o.deviceId !== undefined && { device_id: o.deviceId }),
        };
        printObject((await api.post<{ port: Json }>('/v2.0/ports', { port: body })).port, outputOf(cmd));
      },
    );
  port.command('list').action(async (_o: unknown, cmd: Command) => {
    const rows = (await clientOf(cmd).get<{ ports: Json[] }>('/v2.0/ports')).ports;
    printList(
      rows,
      [
        ['ID', 'id'],
        ['Name', 'name'],
        ['Fixed IPs', 'fixed_ips'],
        ['Device owner', 'device_owner'],
      ],
      outputOf(cmd),
    );
  });
  port
    .command('show')
    .argument('<port>')
    .action(async (ref: string, _o: unknown, cmd: Command) =>
      printObject(await clientOf(cmd).find('ports', 'port', ref), outputOf(cmd)),
    );
  port
    .command('delete')
    .argument('<port...>')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const api = clientOf(cmd);
      for (const ref of refs)
        await api.delete(`/v2.0/ports/${String((await api.find('ports', 'port', ref)).id)}`);
    });
  return port;
}
