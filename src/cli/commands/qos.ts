import { Command } from 'commander';
import type { Json } from '../../client/api-client.js';
import { printList, printObject } from '../output.js';
import { clientOf, collect, outputOf } from './common.js';
import { qosRuleCommand } from './qos-rule.js';

/** `sfip qos policy create|list|show|set|delete` and `sfip qos rule add|list|remove` (docs/qos.md). */

const POLICY_COLUMNS: [string, string][] = [
  ['ID', 'id'],
  ['Name', 'name'],
  ['Shared', 'shared'],
  ['Rules', 'rules'],
  ['Project', 'project_id'],
  ['Description', 'description'],
];

/** A rule in one line, for the policy table: `bandwidth_limit egress 10000 kbit/s burst 800 kbit`. */
export function ruleSummary(rule: Json): string {
  return rule.type === 'bandwidth_limit'
    ? `bandwidth_limit ${String(rule.direction)} ${String(rule.max_kbps)} kbit/s burst ${String(rule.max_burst_kbps)} kbit`
    : `packet_rate_limit ${String(rule.direction)} ${String(rule.max_kpps)} kpps burst ${String(rule.max_burst_kpps)} kpackets`;
}

const summarized = (policy: Json): Json => ({ ...policy, rules: (policy.rules as Json[]).map(ruleSummary) });

function policyCommand(): Command {
  const policy = new Command('policy').description('QoS policies: sets of limits a floating IP can use');

  policy
    .command('create')
    .description('Create a QoS policy (add limits with `sfip qos rule add`)')
    .argument('<name>')
    .option('--description <text>')
    .option('--shared', 'usable by every project (admin only)')
    .option('--project <project>', 'create it for this project (admin only)')
    .option('--tag <tag>', 'tag (repeatable)', collect)
    .action(async (name: string, o: Record<string, unknown>, cmd: Command) => {
      const body = {
        name,
        ...(o.description !== undefined && { description: o.description }),
        ...(o.shared === true && { shared: true }),
        ...(o.project !== undefined && { project_id: o.project }),
        ...(o.tag !== undefined && { tags: o.tag }),
      };
      const created = await clientOf(cmd).post<{ policy: Json }>('/v2.0/qos/policies', { policy: body });
      printObject('policy', created.policy, outputOf(cmd));
    });

  policy
    .command('list')
    .description('List QoS policies: your own and the shared ones')
    .action(async (_o: unknown, cmd: Command) => {
      const rows = (await clientOf(cmd).get<{ policies: Json[] }>('/v2.0/qos/policies')).policies;
      const out = outputOf(cmd);
      printList('policies', out.json ? rows : rows.map(summarized), POLICY_COLUMNS, out);
    });

  policy
    .command('show')
    .description('Show one QoS policy with its rules')
    .argument('<policy>', 'name or id')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const found = await clientOf(cmd).find('qos/policies', 'policy', ref);
      const out = outputOf(cmd);
      printObject('policy', out.json ? found : summarized(found), out);
    });

  policy
    .command('set')
    .description("Change a QoS policy's name, description or sharing")
    .argument('<policy>', 'name or id')
    .option('--name <name>')
    .option('--description <text>')
    .option('--shared', 'usable by every project (admin only)')
    .option('--no-shared', 'only by its own project (refused while another project uses it)')
    .action(async (ref: string, o: Record<string, unknown>, cmd: Command) => {
      const api = clientOf(cmd);
      const found = await api.find('qos/policies', 'policy', ref);
      const body = {
        ...(o.name !== undefined && { name: o.name }),
        ...(o.description !== undefined && { description: o.description }),
        ...(o.shared !== undefined && { shared: o.shared }),
      };
      const updated = await api.put<{ policy: Json }>(`/v2.0/qos/policies/${String(found.id)}`, {
        policy: body,
      });
      printObject('policy', updated.policy, outputOf(cmd));
    });

  policy
    .command('delete')
    .description('Delete QoS policies (refused while a floating IP uses one)')
    .argument('<policy...>', 'names or ids')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      const api = clientOf(cmd);
      for (const ref of refs) {
        const found = await api.find('qos/policies', 'policy', ref);
        await api.delete(`/v2.0/qos/policies/${String(found.id)}`);
        if (!outputOf(cmd).json) console.log(`Deleted QoS policy ${String(found.name || found.id)}`);
      }
    });
  return policy;
}

export function qosCommand(): Command {
  const qos = new Command('qos').description(
    "Quality of service: bandwidth and packet-rate limits for floating IPs (Neutron's QoS API)",
  );
  qos.addCommand(policyCommand());
  qos.addCommand(qosRuleCommand());
  return qos;
}
