import { Command } from 'commander';
import type { Json } from '../../client/api-client.js';
import { label, namesOf } from '../names.js';
import { printList, printObject } from '../output.js';
import { clientOf, outputOf } from './common.js';

interface GatewayInfo {
  network_id: string;
  external_fixed_ips?: { ip_address: string }[];
}

interface RouterOptions {
  namespace?: string;
  gatewayDevice?: string;
  externalNetwork?: string;
  gatewayIp?: string;
  gateway?: boolean;
  backend?: string;
  description?: string;
  antiSpoofing?: boolean;
  fastPath?: boolean;
}

async function routerBody(cmd: Command, o: RouterOptions): Promise<Json> {
  const api = clientOf(cmd);
  const body: Json = {
    ...(o.namespace !== undefined && { namespace: o.namespace === 'none' ? null : o.namespace }),
    ...(o.gatewayDevice !== undefined && { gateway_device: o.gatewayDevice }),
    ...(o.backend !== undefined && { backend: o.backend }),
    ...(o.description !== undefined && { description: o.description }),
    ...(o.antiSpoofing !== undefined && { anti_spoofing: o.antiSpoofing }),
    ...(o.fastPath !== undefined && { fast_path: o.fastPath }),
  };
  if (o.gateway === false) body.external_gateway_info = null;
  if (o.externalNetwork !== undefined) {
    const network = await api.find('networks', 'network', o.externalNetwork);
    body.external_gateway_info = {
      network_id: network.id,
      ...(o.gatewayIp !== undefined && { external_fixed_ips: [{ ip_address: o.gatewayIp }] }),
    };
  }
  return body;
}

function withRouterOptions(command: Command): Command {
  return command
    .option('--namespace <ns>', "network namespace the router lives in ('none' for the host's own)")
    .option('--gateway-device <dev>', 'device facing the external network, e.g. qg-r1')
    .option('--external-network <network>', 'external network for the gateway')
    .option('--gateway-ip <ip>', "the router's own external address (admin)")
    .option('--backend <name>', 'dataplane backend for this router (default: the agent default)')
    .option(
      '--anti-spoofing',
      'drop traffic from outside to fixed IPs and claims of a fixed IP from another MAC',
    )
    .option('--no-anti-spoofing', 'turn anti-spoofing off for this router (it is on by default)')
    .option('--fast-path', 'forward floating-IP packets past the kernel stack where the backend can (eBPF)')
    .option('--no-fast-path', 'keep every packet on the kernel stack’s path (the fast path is on by default)')
    .option('--description <text>');
}

export function routerCommand(): Command {
  const router = new Command('router').description('Routers: where floating IPs are translated');
  withRouterOptions(
    router
      .command('create')
      .description('Create a router (where it lives: --namespace, --gateway-device)')
      .argument('<name>'),
  ).action(async (name: string, o: RouterOptions, cmd: Command) => {
    const body = { name, ...(await routerBody(cmd, o)) };
    printObject(
      'router',
      (await clientOf(cmd).post<{ router: Json }>('/v2.0/routers', { router: body })).router,
      outputOf(cmd),
    );
  });
  withRouterOptions(router.command('set').description('Change a router').argument('<router>'))
    .option('--no-gateway', 'remove the external gateway')
    .action(async (ref: string, o: RouterOptions, cmd: Command) => {
      const api = clientOf(cmd);
      const current = await api.find('routers', 'router', ref);
      const body = await routerBody(cmd, o);
      printObject(
        'router',
        (await api.put<{ router: Json }>(`/v2.0/routers/${String(current.id)}`, { router: body })).router,
        outputOf(cmd),
      );
    });
  for (const [verb, action] of [
    ['add-subnet', 'add_router_interface'],
    ['remove-subnet', 'remove_router_interface'],
  ] as const) {
    router
      .command(verb)
      .description(
        verb === 'add-subnet'
          ? 'Attach an internal subnet: its fixed IPs can then have floating IPs'
          : 'Detach an internal subnet',
      )
      .argument('<router>')
      .argument('<subnet>')
      .action(async (routerRef: string, subnetRef: string, _o: unknown, cmd: Command) => {
        const api = clientOf(cmd);
        const r = await api.find('routers', 'router', routerRef);
        const s = await api.find('subnets', 'subnet', subnetRef);
        printObject(
          null,
          await api.put(`/v2.0/routers/${String(r.id)}/${action}`, { subnet_id: s.id }),
          outputOf(cmd),
        );
      });
  }
  router
    .command('list')
    .description('List routers: where they live, their gateway, and why one is ERROR')
    .option('--long', 'also show the external network id')
    .action(async (o: { long?: boolean }, cmd: Command) => {
      const api = clientOf(cmd);
      const rows = (await api.get<{ routers: Json[] }>('/v2.0/routers')).routers;
      if (outputOf(cmd).json) {
        printList('routers', rows, [], outputOf(cmd));
        return;
      }
      const networks = await namesOf(api, 'networks');
      const gateway = (r: Json) => r.external_gateway_info as GatewayInfo | null;
      printList(
        'routers',
        rows,
        [
          ['ID', 'id'],
          ['Name', 'name'],
          ['Status', 'status'],
          ['Reason', 'status_reason'],
          ['Namespace', (r) => (r.namespace === null ? '(host)' : String(r.namespace))],
          ['Gateway device', 'gateway_device'],
          // "public 203.0.113.2": the external network by name and the router's own address on it.
          [
            'Gateway',
            (r) => {
              const gw = gateway(r);
              if (!gw) return '';
              const ips = (gw.external_fixed_ips ?? []).map((ip) => ip.ip_address).join(' ');
              return `${label(networks, gw.network_id)} ${ips}`.trim();
            },
          ],
          ['Backend', (r) => (r.backend ? String(r.backend) : '(agent default)')],
          ['Anti-spoofing', (r) => (r.anti_spoofing === false ? 'off' : 'on')],
          ['Fast path', (r) => (r.fast_path === false ? 'off' : 'on')],
          ...(o.long ? ([['External network ID', (r: Json) => gateway(r)?.network_id ?? '']] as const) : []),
        ],
        outputOf(cmd),
      );
    });
  router
    .command('show')
    .description('Show one router')
    .argument('<router>')
    .action(async (ref: string, _o: unknown, cmd: Command) =>
      printObject('router', await clientOf(cmd).find('routers', 'router', ref), outputOf(cmd)),
    );
  router
    .command('delete')
    .description('Delete routers (their floating IPs must be disassociated first)')
    .argument('<router...>')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const api = clientOf(cmd);
      for (const ref of refs)
        await api.delete(`/v2.0/routers/${String((await api.find('routers', 'router', ref)).id)}`);
    });
  return router;
}
