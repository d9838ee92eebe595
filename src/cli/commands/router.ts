import { Command } from 'commander';
import type { Json } from '../../client/api-client.js';
import { printList, printObject } from '../output.js';
import { clientOf, outputOf } from './common.js';

interface RouterOptions {
  namespace?: string;
  gatewayDevice?: string;
  externalNetwork?: string;
  gatewayIp?: string;
  gateway?: boolean;
  backend?: string;
  description?: string;
}

async function routerBody(cmd: Command, o: RouterOptions): Promise<Json> {
  const api = clientOf(cmd);
  const body: Json = {
    ...(o.namespace !== undefined && { namespace: o.namespace === 'none' ? null : o.namespace }),
    ...(o.gatewayDevice !== undefined && { gateway_device: o.gatewayDevice }),
    ...(o.backend !== undefined && { backend: o.backend }),
    ...(o.description !== undefined && { description: o.description }),
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
    .option('--description <text>');
}

export function routerCommand(): Command {
  const router = new Command('router').description('Routers: where floating IPs are translated');
  withRouterOptions(router.command('create').argument('<name>')).action(
    async (name: string, o: RouterOptions, cmd: Command) => {
      const body = { name, ...(await routerBody(cmd, o)) };
      printObject(
        (await clientOf(cmd).post<{ router: Json }>('/v2.0/routers', { router: body })).router,
        outputOf(cmd),
      );
    },
  );
  withRouterOptions(router.command('set').argument('<router>'))
    .option('--no-gateway', 'remove the external gateway')
    .action(async (ref: string, o: RouterOptions, cmd: Command) => {
      const api = clientOf(cmd);
      const current = await api.find('routers', 'router', ref);
      const body = await routerBody(cmd, o);
      printObject(
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
      .argument('<router>')
      .argument('<subnet>')
      .action(async (routerRef: string, subnetRef: string, _o: unknown, cmd: Command) => {
        const api = clientOf(cmd);
        const r = await api.find('routers', 'router', routerRef);
        const s = await api.find('subnets', 'subnet', subnetRef);
        printObject(
          await api.put(`/v2.0/routers/${String(r.id)}/${action}`, { subnet_id: s.id }),
          outputOf(cmd),
        );
      });
  }
  router.command('list').action(async (_o: unknown, cmd: Command) => {
    const rows = (await clientOf(cmd).get<{ routers: Json[] }>('/v2.0/routers')).routers;
    printList(
      rows,
      [
        ['ID', 'id'],
        ['Name', 'name'],
        ['Namespace', 'namespace'],
        ['Gateway device', 'gateway_device'],
        ['Gateway', 'external_gateway_info'],
        ['Backend', 'backend'],
      ],
      outputOf(cmd),
    );
  });
  router
    .command('show')
    .argument('<router>')
    .action(async (ref: string, _o: unknown, cmd: Command) =>
      printObject(await clientOf(cmd).find('routers', 'router', ref), outputOf(cmd)),
    );
  router
    .command('delete')
    .argument('<router...>')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const api = clientOf(cmd);
      for (const ref of refs)
        await api.delete(`/v2.0/routers/${String((await api.find('routers', 'router', ref)).id)}`);
    });
  return router;
}
