import { Command, InvalidArgumentError } from 'commander';
import type { ApiClient, Json } from '../../client/api-client.js';
import { ApiError } from '../../client/api-client.js';
import { label, namesOf } from '../names.js';
import { deprecatedAlias } from '../option-helpers.js';
import { printList, printObject } from '../output.js';
import { clientOf, outputOf } from './common.js';

/** The verbs every resource has the same way: show (by name or id) and delete (several at once). */
function showAndDelete(parent: Command, collection: string, member: string, what: string): void {
  parent
    .command('show')
    .description(`Show one ${what}`)
    .argument(`<${member}>`, 'name or id')
    .action(async (ref: string, _o: unknown, cmd: Command) =>
      printObject(member, await clientOf(cmd).find(collection, member, ref), outputOf(cmd)),
    );
  parent
    .command('delete')
    .description(`Delete ${what}s`)
    .argument(`<${member}...>`, 'names or ids')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const api = clientOf(cmd);
      for (const ref of refs) {
        const found = await api.find(collection, member, ref);
        await api.delete(`/v2.0/${collection}/${String(found.id)}`);
        if (!outputOf(cmd).json) console.log(`Deleted ${what} ${String(found.name || found.id)}`);
      }
    });
}

/** PUT of the given fields; nothing given is a usage error rather than an empty update. */
async function update(
  api: ApiClient,
  cmd: Command,
  collection: string,
  member: string,
  ref: string,
  body: Json,
) {
  if (Object.keys(body).length === 0)
    throw new ApiError(400, 'BadRequest', `Nothing to set: see 'sfip ${member} set --help'`);
  const current = await api.find(collection, member, ref);
  const updated = await api.put<Record<string, Json>>(`/v2.0/${collection}/${String(current.id)}`, {
    [member]: body,
  });
  printObject(member, updated[member]!, outputOf(cmd));
}

const common = (o: { name?: string; description?: string }) => ({
  ...(o.name !== undefined && { name: o.name }),
  ...(o.description !== undefined && { description: o.description }),
});

export function networkCommand(): Command {
  const network = new Command('network').description('Networks: external ones are floating-IP pools');
  network
    .command('create')
    .description('Create a network; --external makes it a floating-IP pool')
    .argument('<name>')
    .option('--external', 'a floating-IP pool (router:external)')
    .option('--description <text>')
    .action(async (name: string, o: { external?: boolean; description?: string }, cmd: Command) => {
      const body = { name, 'router:external': Boolean(o.external), ...common(o) };
      printObject(
        'network',
        (await clientOf(cmd).post<{ network: Json }>('/v2.0/networks', { network: body })).network,
        outputOf(cmd),
      );
    });
  network
    .command('list')
    .description('List networks')
    .option('--long', 'show subnet ids instead of names')
    .action(async (o: { long?: boolean }, cmd: Command) => {
      const api = clientOf(cmd);
      const rows = (await api.get<{ networks: Json[] }>('/v2.0/networks')).networks;
      const subnets =
        o.long || outputOf(cmd).json ? new Map<string, string>() : await namesOf(api, 'subnets');
      printList(
        'networks',
        rows,
        [
          ['ID', 'id'],
          ['Name', 'name'],
          ['External', 'router:external'],
          [
            'Subnets',
            (r) => ((r.subnets as string[] | undefined) ?? []).map((id) => label(subnets, id)).join('\n'),
          ],
        ],
        outputOf(cmd),
      );
    });
  network
    .command('set')
    .description('Rename a network, change its description, or make it external or internal')
    .argument('<network>', 'name or id')
    .option('--name <name>')
    .option('--description <text>')
    .option('--external', 'make it a floating-IP pool')
    .option('--internal', 'make it an internal network')
    .action(
      async (
        ref: string,
        o: { name?: string; description?: string; external?: boolean; internal?: boolean },
        cmd: Command,
      ) => {
        if (o.external && o.internal)
          throw new InvalidArgumentError('--external and --internal exclude each other');
        const body = {
          ...common(o),
          ...(o.external && { 'router:external': true }),
          ...(o.internal && { 'router:external': false }),
        };
        await update(clientOf(cmd), cmd, 'networks', 'network', ref, body);
      },
    );
  showAndDelete(network, 'networks', 'network', 'network');
  return network;
}

/** `start=A,end=B`, as the openstack CLI takes it; the old `A-B` is converted by the deprecated --pool. */
function parseAllocationPool(text: string, previous: { start: string; end: string }[] = []) {
  const fields = new Map(text.split(',').map((kv) => kv.split('=', 2) as [string, string | undefined]));
  const start = fields.get('start');
  const end = fields.get('end');
  if (!start || !end || fields.size !== 2) {
    throw new InvalidArgumentError(`'${text}' is not an allocation pool: expected start=IP,end=IP`);
  }
  return [...previous, { start, end }];
}

const poolFromRange = (text: string) => {
  const [start, end] = text.split('-');
  return `start=${start ?? ''},end=${end ?? start ?? ''}`;
};

export function subnetCommand(): Command {
  const subnet = new Command('subnet').description('Subnets: address ranges of a network');
  const create = subnet
    .command('create')
    .description(
      'Create a subnet; on an external network, its allocation pools are where floating IPs come from',
    )
    .argument('<name>')
    .requiredOption('--network <network>', 'name or id')
    .requiredOption('--subnet-range <cidr>', 'e.g. 203.0.113.0/24')
    .option('--gateway-ip <ip>', "the next hop on this subnet, or 'none'")
    .option(
      '--allocation-pool <start=IP,end=IP>',
      'addresses to allocate from, e.g. start=203.0.113.10,end=203.0.113.200 (repeatable)',
      parseAllocationPool,
    )
    .option('--description <text>');
  deprecatedAlias(create, '--cidr <cidr>', '--subnet-range');
  deprecatedAlias(create, '--gateway <ip>', '--gateway-ip');
  deprecatedAlias(create, '--pool <start-end>', '--allocation-pool', poolFromRange);
  create.action(
    async (
      name: string,
      o: {
        network: string;
        subnetRange: string;
        gatewayIp?: string;
        allocationPool?: { start: string; end: string }[];
        description?: string;
      },
      cmd: Command,
    ) => {
      const api = clientOf(cmd);
      const network = await api.find('networks', 'network', o.network);
      const body = {
        name,
        network_id: network.id,
        cidr: o.subnetRange,
        ...(o.gatewayIp !== undefined && { gateway_ip: o.gatewayIp === 'none' ? null : o.gatewayIp }),
        ...(o.allocationPool !== undefined && { allocation_pools: o.allocationPool }),
        ...common(o),
      };
      printObject(
        'subnet',
        (await api.post<{ subnet: Json }>('/v2.0/subnets', { subnet: body })).subnet,
        outputOf(cmd),
      );
    },
  );
  subnet
    .command('list')
    .description('List subnets')
    .option('--long', 'show network ids instead of names')
    .action(async (o: { long?: boolean }, cmd: Command) => {
      const api = clientOf(cmd);
      const rows = (await api.get<{ subnets: Json[] }>('/v2.0/subnets')).subnets;
      const networks =
        o.long || outputOf(cmd).json ? new Map<string, string>() : await namesOf(api, 'networks');
      printList(
        'subnets',
        rows,
        [
          ['ID', 'id'],
          ['Name', 'name'],
          ['Network', (r) => label(networks, r.network_id)],
          ['Subnet range', 'cidr'],
          ['Gateway IP', 'gateway_ip'],
          [
            'Allocation pools',
            (r) =>
              ((r.allocation_pools as { start: string; end: string }[] | undefined) ?? [])
                .map((p) => `${p.start}-${p.end}`)
                .join('\n'),
          ],
        ],
        outputOf(cmd),
      );
    });
  subnet
    .command('set')
    .description('Rename a subnet or change its description')
    .argument('<subnet>', 'name or id')
    .option('--name <name>')
    .option('--description <text>')
    .action(async (ref: string, o: { name?: string; description?: string }, cmd: Command) =>
      update(clientOf(cmd), cmd, 'subnets', 'subnet', ref, common(o)),
    );
  showAndDelete(subnet, 'subnets', 'subnet', 'subnet');
  return subnet;
}

/** `--fixed-ip 10.0.0.11`, or the openstack CLI's `--fixed-ip ip-address=10.0.0.11[,subnet=NAME]`. */
function parseFixedIp(text: string, previous: { ip?: string; subnet?: string }[] = []) {
  if (!text.includes('=')) return [...previous, { ip: text }];
  const fields = new Map(text.split(',').map((kv) => kv.split('=', 2) as [string, string | undefined]));
  const ip = fields.get('ip-address');
  const subnet = fields.get('subnet');
  if (
    [...fields.keys()].some((k) => k !== 'ip-address' && k !== 'subnet') ||
    (ip === undefined && subnet === undefined)
  ) {
    throw new InvalidArgumentError(
      `'${text}' is not a fixed IP: expected an address, or ip-address=IP[,subnet=SUBNET]`,
    );
  }
  return [...previous, { ...(ip !== undefined && { ip }), ...(subnet !== undefined && { subnet }) }];
}

async function fixedIpsBody(api: ApiClient, fixed: { ip?: string; subnet?: string }[]) {
  return Promise.all(
    fixed.map(async (f) => ({
      ...(f.ip !== undefined && { ip_address: f.ip }),
      ...(f.subnet !== undefined && { subnet_id: (await api.find('subnets', 'subnet', f.subnet)).id }),
    })),
  );
}

export function portCommand(): Command {
  const port = new Command('port').description('Ports: fixed IPs of VMs on internal networks');
  port
    .command('create')
    .description("Create a port (a VM's interface) with fixed IPs on an internal network")
    .argument('<name>')
    .requiredOption('--network <network>', 'name or id')
    .option(
      '--fixed-ip <ip>',
      'a fixed IP: an address, or ip-address=IP[,subnet=SUBNET] (repeatable)',
      parseFixedIp,
    )
    .option('--mac-address <mac>', 'the MAC address (default: a random fa:16:3e:xx:xx:xx)')
    .option('--device-id <id>', 'the VM (or other device) the port belongs to')
    .option('--description <text>')
    .action(
      async (
        name: string,
        o: {
          network: string;
          fixedIp?: { ip?: string; subnet?: string }[];
          macAddress?: string;
          deviceId?: string;
          description?: string;
        },
        cmd: Command,
      ) => {
        const api = clientOf(cmd);
        const network = await api.find('networks', 'network', o.network);
        const body = {
          name,
          network_id: network.id,
          ...(o.fixedIp && { fixed_ips: await fixedIpsBody(api, o.fixedIp) }),
          ...(o.macAddress !== undefined && { mac_address: o.macAddress }),
          ...(o.deviceId !== undefined && { device_id: o.deviceId }),
          ...common(o),
        };
        printObject(
          'port',
          (await api.post<{ port: Json }>('/v2.0/ports', { port: body })).port,
          outputOf(cmd),
        );
      },
    );
  port
    .command('list')
    .description('List ports')
    .option('--long', 'also show network ids and device ids')
    .action(async (o: { long?: boolean }, cmd: Command) => {
      const api = clientOf(cmd);
      const rows = (await api.get<{ ports: Json[] }>('/v2.0/ports')).ports;
      const networks = outputOf(cmd).json ? new Map<string, string>() : await namesOf(api, 'networks');
      const ips = (r: Json) =>
        ((r.fixed_ips as { ip_address: string }[] | undefined) ?? []).map((f) => f.ip_address).join('\n');
      printList(
        'ports',
        rows,
        [
          ['ID', 'id'],
          ['Name', 'name'],
          ['Network', (r) => label(networks, r.network_id)],
          ['Fixed IPs', ips],
          ['MAC address', 'mac_address'],
          ['Device owner', 'device_owner'],
          ...(o.long
            ? ([
                ['Network ID', 'network_id'],
                ['Device ID', 'device_id'],
              ] as const)
            : []),
        ],
        outputOf(cmd),
      );
    });
  port
    .command('set')
    .description('Rename a port, change its description, device or fixed IPs')
    .argument('<port>', 'name or id')
    .option('--name <name>')
    .option('--description <text>')
    .option('--device-id <id>')
    .option(
      '--fixed-ip <ip>',
      'replace the fixed IPs: an address, or ip-address=IP[,subnet=SUBNET] (repeatable)',
      parseFixedIp,
    )
    .action(
      async (
        ref: string,
        o: {
          name?: string;
          description?: string;
          deviceId?: string;
          fixedIp?: { ip?: string; subnet?: string }[];
        },
        cmd: Command,
      ) => {
        const api = clientOf(cmd);
        const body = {
          ...common(o),
          ...(o.deviceId !== undefined && { device_id: o.deviceId }),
          ...(o.fixedIp && { fixed_ips: await fixedIpsBody(api, o.fixedIp) }),
        };
        await update(api, cmd, 'ports', 'port', ref, body);
      },
    );
  showAndDelete(port, 'ports', 'port', 'port');
  return port;
}
