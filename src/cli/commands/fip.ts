import { Command, InvalidArgumentError } from 'commander';
import type { ApiClient, Json } from '../../client/api-client.js';
import { ApiError } from '../../client/api-client.js';
import { findExternalNetwork, label, namesOf } from '../names.js';
import { deprecatedAlias, durationOption } from '../option-helpers.js';
import { printList, printObject, type Column } from '../output.js';
import { clientOf, collect, outputOf } from './common.js';
import { forwardCommand } from './fip-forward.js';
import { waitForStatus } from './wait.js';

const STATUSES = ['ACTIVE', 'DOWN', 'ERROR'] as const;

function parseStatus(text: string): string {
  const status = text.toUpperCase();
  if (!(STATUSES as readonly string[]).includes(status)) {
    throw new InvalidArgumentError(`'${text}' is not a floating IP status: use ${STATUSES.join(', ')}`);
  }
  return status;
}

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
    const names = candidates.map((p) => String(p.name || p.id)).join(', ');
    throw new ApiError(
      409,
      'Ambiguous',
      `Several ports have fixed IP ${fixedIp} (${names}): choose one with --port`,
    );
  }
  return String(candidates[0]!.id);
}

/** --wait and --wait-timeout, shared by create and set. */
function withWait(command: Command): Command {
  return command
    .option('--wait', 'wait until the agent reports ACTIVE or ERROR; exit non-zero on ERROR or timeout')
    .addOption(durationOption('--wait-timeout <duration>', 'how long --wait waits', 30_000));
}

interface WaitOptions {
  wait?: boolean;
  waitTimeout: number;
}

/** Prints the floating IP, after waiting for the agent when asked; ERROR or a timeout is a failure. */
async function finish(api: ApiClient, cmd: Command, fip: Json, o: WaitOptions): Promise<void> {
  if (!o.wait) {
    printObject('floatingip', fip, outputOf(cmd));
    return;
  }
  if (!fip.port_id) {
    printObject('floatingip', fip, outputOf(cmd));
    throw new ApiError(
      400,
      'BadRequest',
      '--wait needs an associated port: an unassociated floating IP stays DOWN',
    );
  }
  const settled = await waitForStatus(
    () => api.get<{ floatingip: Json }>(`/v2.0/floatingips/${String(fip.id)}`).then((r) => r.floatingip),
    ['ACTIVE', 'ERROR'],
    o.waitTimeout,
  );
  printObject('floatingip', settled.resource, outputOf(cmd));
  const address = String(fip.floating_ip_address);
  if (settled.timedOut) {
    throw new ApiError(
      504,
      'Timeout',
      `Floating IP ${address} is still ${String(settled.resource.status)} after --wait-timeout: is the agent running?`,
    );
  }
  if (settled.resource.status === 'ERROR') {
    throw new ApiError(
      500,
      'FloatingIpError',
      `Floating IP ${address} is ERROR: ${String(settled.resource.status_reason)}`,
    );
  }
}

export function fipCommand(): Command {
  const fip = new Command('fip')
    .alias('floating-ip')
    .description('Floating IPs: create, associate, move, delete');

  const create = withWait(
    fip
      .command('create')
      .description('Allocate a floating IP from an external network, optionally associating it')
      .argument('<network>', 'external network (name or id)')
      .option('--floating-ip-address <ip>', 'a specific floating address (admin only)')
      .option('--subnet <subnet>', 'allocate from this subnet of the network')
      .option('--port <port>', 'associate with this port (name or id)')
      .option('--fixed-ip-address <ip>', "the port's fixed IP to use; alone, finds the port that has it")
      .option('--description <text>')
      .option('--qos-policy <policy>', 'limit it with this QoS policy (name or id)')
      .option('--tag <tag>', 'tag (repeatable)', collect),
  );
  deprecatedAlias(create, '--address <ip>', '--floating-ip-address');
  deprecatedAlias(create, '--fixed-ip <ip>', '--fixed-ip-address');
  create.action(async (network: string, o: Record<string, unknown> & WaitOptions, cmd: Command) => {
    const api = clientOf(cmd);
    const net = await findExternalNetwork(api, network);
    const fixedIp = o.fixedIpAddress as string | undefined;
    const portId = await resolvePort(api, o.port as string | undefined, fixedIp);
    const body = {
      floating_network_id: net.id,
      ...(o.floatingIpAddress !== undefined && { floating_ip_address: o.floatingIpAddress }),
      ...(o.subnet !== undefined && {
        subnet_id: (await api.find('subnets', 'subnet', o.subnet as string)).id,
      }),
      ...(portId !== undefined && { port_id: portId }),
      ...(fixedIp !== undefined && { fixed_ip_address: fixedIp }),
      ...(o.description !== undefined && { description: o.description }),
      ...(o.qosPolicy !== undefined && {
        qos_policy_id: (await api.find('qos/policies', 'policy', o.qosPolicy as string)).id,
      }),
      ...(o.tag !== undefined && { tags: o.tag }),
    };
    const created = (await api.post<{ floatingip: Json }>('/v2.0/floatingips', { floatingip: body }))
      .floatingip;
    await finish(api, cmd, created, o);
  });

  fip
    .command('list')
    .description('List floating IPs, with port and router names and why one is ERROR')
    .option('--status <status>', `only those with this status: ${STATUSES.join(', ')}`, parseStatus)
    .option('--router <router>', 'only those carried by this router')
    .option('--port <port>', 'only those associated with this port')
    .option('--network <network>', 'only those from this external network')
    .option('--long', 'also show the port, router and network ids')
    .action(async (o: Record<string, string | boolean | undefined>, cmd: Command) => {
      const api = clientOf(cmd);
      const query = new URLSearchParams();
      if (o.status) query.set('status', String(o.status));
      if (o.router)
        query.set('router_id', String((await api.find('routers', 'router', String(o.router))).id));
      if (o.port) query.set('port_id', String((await api.find('ports', 'port', String(o.port))).id));
      if (o.network)
        query.set(
          'floating_network_id',
          String((await api.find('networks', 'network', String(o.network))).id),
        );
      const rows = (await api.get<{ floatingips: Json[] }>(`/v2.0/floatingips?${query}`)).floatingips;
      if (outputOf(cmd).json) {
        printList('floatingips', rows, [], outputOf(cmd));
        return;
      }
      const [ports, routers, networks] = await Promise.all([
        namesOf(api, 'ports'),
        namesOf(api, 'routers'),
        namesOf(api, 'networks'),
      ]);
      const columns: Column[] = [
        ['ID', 'id'],
        ['Floating IP', 'floating_ip_address'],
        ['Fixed IP', 'fixed_ip_address'],
        ['Port', (r) => label(ports, r.port_id)],
        ['Router', (r) => label(routers, r.router_id)],
        ['Status', 'status'],
        ['Reason', 'status_reason'],
        ['Description', 'description'],
        ...(o.long
          ? ([
              ['Network', (r) => label(networks, r.floating_network_id)],
              ['Port ID', 'port_id'],
              ['Router ID', 'router_id'],
            ] as Column[])
          : []),
      ];
      printList('floatingips', rows, columns, outputOf(cmd));
    });

  fip
    .command('show')
    .description('Show one floating IP')
    .argument('<floating-ip>', 'address or id')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      printObject('floatingip', await clientOf(cmd).find('floatingips', 'floatingip', ref), outputOf(cmd));
    });

  const set = withWait(
    fip
      .command('set')
      .description('Associate a floating IP with a port (or move it), change its QoS policy or description')
      .argument('<floating-ip>', 'address or id')
      .option('--port <port>', 'associate with this port (name or id)')
      .option('--fixed-ip-address <ip>', "the port's fixed IP to use; alone, finds the port that has it")
      .option('--qos-policy <policy>', 'limit it with this QoS policy (name or id)')
      .option('--description <text>'),
  );
  deprecatedAlias(set, '--fixed-ip <ip>', '--fixed-ip-address');
  set.action(async (ref: string, o: Record<string, string | undefined> & WaitOptions, cmd: Command) => {
    const api = clientOf(cmd);
    const current = await api.find('floatingips', 'floatingip', ref);
    const portId = await resolvePort(api, o.port, o.fixedIpAddress);
    const body = {
      ...(portId !== undefined && { port_id: portId }),
      ...(o.fixedIpAddress !== undefined && { fixed_ip_address: o.fixedIpAddress }),
      ...(o.description !== undefined && { description: o.description }),
      ...(o.qosPolicy !== undefined && {
        qos_policy_id: (await api.find('qos/policies', 'policy', o.qosPolicy)).id,
      }),
    };
    if (Object.keys(body).length === 0)
      throw new ApiError(
        400,
        'BadRequest',
        'Nothing to set: give --port, --fixed-ip-address, --qos-policy or --description',
      );
    const updated = (
      await api.put<{ floatingip: Json }>(`/v2.0/floatingips/${String(current.id)}`, { floatingip: body })
    ).floatingip;
    await finish(api, cmd, updated, o);
  });

  fip
    .command('unset')
    .description('Disassociate a floating IP from its port, or remove its QoS policy')
    .argument('<floating-ip>', 'address or id')
    .option('--port', 'disassociate (what unset removes when given nothing)')
    .option('--qos-policy', 'remove its QoS policy')
    .action(async (ref: string, o: { port?: boolean; qosPolicy?: boolean }, cmd: Command) => {
      const api = clientOf(cmd);
      const current = await api.find('floatingips', 'floatingip', ref);
      const body = {
        floatingip: {
          ...((o.port || !o.qosPolicy) && { port_id: null }),
          ...(o.qosPolicy && { qos_policy_id: null }),
        },
      };
      printObject(
        'floatingip',
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
