import { Command } from 'commander';
import { demoLab, labDown, labStatus, labUp } from '../../lab/index.js';
import { labPortName } from '../../lab/register.js';
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
        `External network: ${o.prefix}-${r.name}-public (${r.externalCidr}); ports ${r.vms.map((v) => labPortName(spec, r.name, v.name)).join(', ')}.`,
      );
    });
  lab
    .command('down')
    .description('Unregister the lab from the API and delete its namespaces')
    .option(...prefixOption)
    .action(async (o: { prefix: string }, cmd: Command) => {
      const result = await labDown(clientOf(cmd), demoLab(o.prefix));
      const namespaces = `${result.namespaces.length} namespace${result.namespaces.length === 1 ? '' : 's'}`;
      if (result.apiError) {
        // The namespaces are gone but the API still lists the lab: say exactly that, and fail.
        console.error(
          `Removed ${namespaces}, but the API resources of lab ${o.prefix} could not be removed: ${result.apiError}. ` +
            `Run 'sfip lab down --prefix ${o.prefix}' again once the API answers.`,
        );
        process.exitCode = 1;
        return;
      }
      if (result.unregistered === 0 && result.namespaces.length === 0) {
        console.log(`Nothing to remove: lab ${o.prefix} has no API resources and no namespaces.`);
        return;
      }
      console.log(`Removed lab ${o.prefix}: ${result.unregistered} API resources and ${namespaces}.`);
    });
  lab
    .command('status')
    .description("Show which of the lab's namespaces exist")
    .option(...prefixOption)
    .action(async (o: { prefix: string }, cmd: Command) => {
      const rows = await labStatus(demoLab(o.prefix));
      const present = rows.filter((r) => r.exists).length;
      // A missing or half-built lab is a failure, so scripts can test `sfip lab status` directly.
      if (present < rows.length) process.exitCode = 1;
      if (present === 0 && !outputOf(cmd).json) {
        console.error(
          `Lab ${o.prefix} does not exist: none of its ${rows.length} namespaces exist ('sfip lab up --prefix ${o.prefix}').`,
        );
        return;
      }
      if (present < rows.length && !outputOf(cmd).json) {
        console.error(
          `Lab ${o.prefix} is incomplete: ${rows.length - present} of its ${rows.length} namespaces are missing.`,
        );
      }
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
