import { Command, InvalidArgumentError } from 'commander';
import { parseProjectId } from '../../auth/index.js';
import type { Json } from '../../client/api-client.js';
import { MAX_QUOTA, QUOTA_RESOURCES } from '../../model/index.js';
import { printList } from '../output.js';
import { clientOf, outputOf } from './common.js';

function projectArgument(text: string): string {
  try {
    return parseProjectId(text);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function limitOption(text: string): number {
  const n = Number(text);
  if (!/^-?\d+$/.test(text) || n < -1 || n > MAX_QUOTA) {
    throw new InvalidArgumentError(
      `'${text}' is not a quota: expected a whole number from -1 (unlimited) to ${MAX_QUOTA}`,
    );
  }
  return n;
}

/** The option of each quota resource: --floating-ips, --networks, --ports, --routers, --subnets (openstack's names). */
const OPTION: Record<(typeof QUOTA_RESOURCES)[number], string> = {
  floatingip: 'floating-ips',
  network: 'networks',
  port: 'ports',
  router: 'routers',
  subnet: 'subnets',
};
const camel = (option: string) => option.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** `sfip quota show [PROJECT]` (usage and limits) and `sfip quota set PROJECT --floating-ips N ...` (admin). */
export function quotaCommand(): Command {
  const quota = new Command('quota').description("A project's limits and usage (Neutron's quotas)");
  quota
    .command('show')
    .description('Limits, usage and reservations of a project (default: the token’s own)')
    .argument('[project]', 'the project id', projectArgument)
    .action(async (project: string | undefined, _o: unknown, cmd: Command) => {
      const api = clientOf(cmd);
      const id =
        project ?? (await api.get<{ tenant: { tenant_id: string } }>('/v2.0/quotas/tenant')).tenant.tenant_id;
      const details = (await api.get<{ quota: Record<string, Json> }>(`/v2.0/quotas/${id}/details`)).quota;
      const rows = QUOTA_RESOURCES.map((r) => ({ resource: r, ...details[r] }));
      // null: a table of resources, not a Neutron collection (the API's own shape is /v2.0/quotas/ID/details).
      printList(
        null,
        rows,
        [
          ['Resource', 'resource'],
          ['Used', 'used'],
          ['Limit', 'limit'],
          ['Reserved', 'reserved'],
        ],
        outputOf(cmd),
      );
    });
  const set = quota
    .command('set')
    .description('Set some limits of a project (admin token; -1 is unlimited)')
    .argument('<project>', 'the project id', projectArgument);
  for (const option of Object.values(OPTION))
    set.option(`--${option} <n>`, `limit of ${option}`, limitOption);
  set.action(async (project: string, o: Record<string, number | undefined>, cmd: Command) => {
    const limits: Record<string, number> = {};
    for (const [resource, option] of Object.entries(OPTION)) {
      const value = o[camel(option)];
      if (value !== undefined) limits[resource] = value;
    }
    if (Object.keys(limits).length === 0) {
      throw new Error(
        `Nothing to set: give at least one of ${Object.values(OPTION)
          .map((x) => `--${x}`)
          .join(', ')}`,
      );
    }
    const result = await clientOf(cmd).request<{ quota: Json }>('PUT', `/v2.0/quotas/${project}`, {
      quota: limits,
    });
    printList(
      null,
      QUOTA_RESOURCES.map((r) => ({ resource: r, limit: result.quota[r] })),
      [
        ['Resource', 'resource'],
        ['Limit', 'limit'],
      ],
      outputOf(cmd),
    );
  });
  quota
    .command('reset')
    .description('Return a project to the default limits (admin token)')
    .argument('<project>', 'the project id', projectArgument)
    .action(async (project: string, _o: unknown, cmd: Command) => {
      await clientOf(cmd).delete(`/v2.0/quotas/${project}`);
    });
  return quota;
}
