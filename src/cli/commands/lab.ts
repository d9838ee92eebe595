import { Command } from 'commander';
import { demoLab, labDown, labStatus, labUp } from '../../lab/index.js';
import { printList } from '../output.js';
import { clientOf, outputOf } from './common.js';

export function labCommand(): Command {
  const lab = new Command('lab').description(
    'A closed demo topology in network namespaces: an external host, a router, three VMs',
  );
  const prefixOption = ['--prefix <name>', 'namespace prefix', 'sfip'] as const;
  lab
    .command('up')
    .description(
      'Create the namespaces, start a web server in each VM, and register the topology with the API',
    )
    .option(...prefixOption)
    .action(async (o: { prefix: string }, cmd: Command) => {
      const spec = demoLab(o.prefix);
      const routers = await labUp(clientOf(cmd), spec);
      if (outputOf(cmd).json) {
        console.log(JSON.stringify(routers, null, 2));
        return;
      }
      const r = spec.routers[0]!;
      console.log(
        `Lab ${o.prefix} is up: router ${o.prefix}-${r.name}, external host ${o.prefix}-${r.name}-ext (${r.upstreamIp}),`,
      );
      console.log(`VMs ${r.vms.map((v) => `${v.name} ${v.ip}`).join(', ')} behind ${r.internalGatewayIp}.`);
      console.log(
        `External network: ${o.prefix}-${r.name}-public (${r.externalCidr}); ports are named after the VMs.`,
      );
    });
  lab
    .command('down')
    .description('Unregister the lab from the API and delete its namespaces')
    .option(...prefixOption)
    .action(async (o: { prefix: string }, cmd: Command) => {
      const result = await labDown(clientOf(cmd), demoLab(o.prefix));
      if (result.apiError) console.error(`warning: could not unregister from the API: ${result.apiError}`);
      console.log(`Removed ${result.unregistered} API resources and ${result.namespaces.length} namespaces.`);
    });
  lab
    .command('status')
    .description("Show which of the lab's namespaces exist")
    .option(...prefixOption)
    .action(async (o: { prefix: string }, cmd: Command) => {
      const rows = await labStatus(demoLab(o.prefix));
      printList(
        null,
        rows.map((r) => ({ ...r, exists: r.exists ? 'yes' : 'no' })),
        [
          ['Namespace', 'namespace'],
          ['Exists', 'exists'],
        ],
        outputOf(cmd),
      );
    });
  return lab;
}
