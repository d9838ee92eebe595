import { Command, InvalidArgumentError, Option } from 'commander';
import type { Json } from '../../client/api-client.js';
import { ApiError } from '../../client/api-client.js';
import { printList, printObject } from '../output.js';
import { clientOf, outputOf } from './common.js';

/** `sfip qos rule add|list|remove`: the limits of a QoS policy, one per type and direction. */

/** The CLI's type names (openstack's style) and the API's fields for each. */
const TYPES = {
  'bandwidth-limit': { api: 'bandwidth_limit', max: 'max_kbps', burst: 'max_burst_kbps' },
  'packet-rate-limit': { api: 'packet_rate_limit', max: 'max_kpps', burst: 'max_burst_kpps' },
} as const;
type TypeName = keyof typeof TYPES;

const COLUMNS: [string, string][] = [
  ['ID', 'id'],
  ['Type', 'type'],
  ['Direction', 'direction'],
  ['Max kbps', 'max_kbps'],
  ['Burst kbit', 'max_burst_kbps'],
  ['Max kpps', 'max_kpps'],
  ['Burst kpackets', 'max_burst_kpps'],
];

/** Digits go as a number; anything else goes as given, for the API to refuse and name. */
const amount = (text: string): number | string => (/^-?[0-9]{1,16}$/.test(text) ? Number(text) : text);

function typeOption(text: string): TypeName {
  if (!(text in TYPES)) {
    throw new InvalidArgumentError(`'${text}' is not a rule type: use ${Object.keys(TYPES).join(' or ')}`);
  }
  return text as TypeName;
}

interface AddOptions {
  type: TypeName;
  maxKbps?: string;
  maxBurstKbits?: string;
  maxKpps?: string;
  maxBurstKpps?: string;
  ingress?: boolean;
  egress?: boolean;
}

/** The rate options of the other type are a mistake worth naming, not something to ignore. */
function ruleBody(o: AddOptions): Json {
  const bandwidth = o.type === 'bandwidth-limit';
  const [max, burst, wrong] = bandwidth
    ? [o.maxKbps, o.maxBurstKbits, o.maxKpps ?? o.maxBurstKpps]
    : [o.maxKpps, o.maxBurstKpps, o.maxKbps ?? o.maxBurstKbits];
  const [maxName, burstName] = bandwidth
    ? ['--max-kbps', '--max-burst-kbits']
    : ['--max-kpps', '--max-burst-kpps'];
  if (wrong !== undefined) {
    throw new ApiError(400, 'BadRequest', `--type ${o.type} takes ${maxName} and ${burstName} only`);
  }
  if (max === undefined) throw new ApiError(400, 'BadRequest', `--type ${o.type} needs ${maxName}`);
  const fields = TYPES[o.type];
  return {
    [fields.max]: amount(max),
    ...(burst !== undefined && { [fields.burst]: amount(burst) }),
    ...(o.ingress && { direction: 'ingress' }),
    ...(o.egress && { direction: 'egress' }),
  };
}

export function qosRuleCommand(): Command {
  const rule = new Command('rule').description('Limits of a QoS policy: one per type and direction');

  rule
    .command('add')
    .description('Add a bandwidth or packet-rate limit to a QoS policy (default direction: egress)')
    .argument('<policy>', 'name or id')
    .requiredOption('--type <type>', 'bandwidth-limit or packet-rate-limit', typeOption)
    .option('--max-kbps <kbps>', 'bandwidth-limit: the rate, kbit/s')
    .option('--max-burst-kbits <kbits>', 'bandwidth-limit: the burst, kbit (0: the default)')
    .option('--max-kpps <kpps>', 'packet-rate-limit: the rate, thousands of packets per second')
    .option('--max-burst-kpps <kpackets>', 'packet-rate-limit: the burst, thousands of packets')
    .addOption(new Option('--ingress', 'limit traffic towards the fixed address').conflicts('egress'))
    .addOption(new Option('--egress', 'limit traffic from the fixed address'))
    .action(async (ref: string, o: AddOptions, cmd: Command) => {
      const api = clientOf(cmd);
      const body = ruleBody(o);
      const policy = await api.find('qos/policies', 'policy', ref);
      const member = `${TYPES[o.type].api}_rule`;
      const created = await api.post<Record<string, Json>>(
        `/v2.0/qos/policies/${String(policy.id)}/${member}s`,
        { [member]: body },
      );
      printObject(member, created[member]!, outputOf(cmd));
    });

  rule
    .command('list')
    .description("List a QoS policy's rules")
    .argument('<policy>', 'name or id')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const policy = await clientOf(cmd).find('qos/policies', 'policy', ref);
      printList('rules', policy.rules as Json[], COLUMNS, outputOf(cmd));
    });

  rule
    .command('remove')
    .description('Remove rules from a QoS policy')
    .argument('<policy>', 'name or id')
    .argument('<rule...>', 'rule ids')
    .action(async (ref: string, ids: string[], _o: unknown, cmd: Command) => {
      const api = clientOf(cmd);
      const policy = await api.find('qos/policies', 'policy', ref);
      for (const id of ids) {
        // The URL names the rule's type: found in the policy, so the caller need not repeat it.
        const found = (policy.rules as Json[]).find((r) => r.id === id);
        if (!found) {
          throw new ApiError(
            404,
            'QosRuleNotFound',
            `QoS rule ${id} for policy ${String(policy.name || policy.id)} could not be found.`,
          );
        }
        await api.delete(
          `/v2.0/qos/policies/${String(policy.id)}/${String(found.type)}_rules/${encodeURIComponent(id)}`,
        );
        if (!outputOf(cmd).json) console.log(`Removed QoS rule ${id} (${String(found.type)})`);
      }
    });
  return rule;
}
