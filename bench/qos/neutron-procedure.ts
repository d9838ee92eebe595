/**
 * What one floating IP's limit update costs Neutron's L3 agent (neutron/agent/linux/l3_tc_lib.py,
 * FloatingIPTcCommandBase.update_ip_rate_limit), replayed with this host's tc: find the qdisc (`tc qdisc show`),
 * list every filter of the device's ingress qdisc as text (`tc -p -s -d filter show … prio 1`), parse it for the
 * filter whose `match IP dst <fip>/32` line names the address, delete that filter by handle, add the new one;
 * one tc process per step, as the agent runs them. The agent's filters carry `police rate … burst … drop`; this
 * host's kernel has no act_police, so these classify only (`flowid :1`): the listing, the search and the
 * del/add are the same, without the police action's own share of the listing.
 */
import { run } from '../../src/exec/run.js';
import { floatingIpOf } from '../topology.js';

const DEVICE = 'qg-neutron';
const FILTER_ID = /^filter protocol ip u32 (?:fh|chain \d+ fh) (\w+::\w+)/;

const filterArgs = (ip: string) => [
  'protocol',
  'ip',
  'prio',
  '1',
  'u32',
  'match',
  'ip',
  'dst',
  `${ip}/32`,
  'flowid',
  ':1',
];

/**
 * A scratch namespace with a gateway device (one end of a veth pair: this kernel has no dummy devices) and
 * `count` per-address filters on its ingress qdisc.
 */
export async function neutronFilters(namespace: string, count: number): Promise<void> {
  await run('ip', ['netns', 'add', namespace]);
  await run('ip', ['link', 'add', DEVICE, 'type', 'veth', 'peer', 'name', 'qg-peer'], { netns: namespace });
  await run('ip', ['link', 'set', DEVICE, 'up'], { netns: namespace });
  await run('tc', ['qdisc', 'add', 'dev', DEVICE, 'ingress'], { netns: namespace });
  const lines = Array.from(
    { length: count },
    (_, i) => `filter add dev ${DEVICE} parent ffff: ${filterArgs(floatingIpOf(i)).join(' ')}`,
  );
  await run('tc', ['-batch', '-'], { netns: namespace, input: lines.join('\n') + '\n' });
}

/** One update of floating IP `index`'s filter, step by step as the L3 agent does it; returns its wall time. */
export async function neutronUpdate(namespace: string, index: number): Promise<number> {
  const ip = floatingIpOf(index);
  const started = performance.now();
  await run('tc', ['qdisc', 'show', 'dev', DEVICE], { netns: namespace });
  const { stdout } = await run(
    'tc',
    ['-p', '-s', '-d', 'filter', 'show', 'dev', DEVICE, 'parent', 'ffff:', 'prio', '1'],
    {
      netns: namespace,
    },
  );
  let current: string | undefined;
  const found: string[] = [];
  for (const raw of stdout.split('\n')) {
    const line = raw.trim();
    const id = FILTER_ID.exec(line);
    if (id) current = id[1];
    else if (line.startsWith('match') && line.split(' ').includes(`${ip}/32`) && current) found.push(current);
  }
  if (found.length !== 1) throw new Error(`found ${found.length} filters for ${ip}`);
  await run(
    'tc',
    ['filter', 'del', 'dev', DEVICE, 'parent', 'ffff:', 'prio', '1', 'handle', found[0]!, 'u32'],
    {
      netns: namespace,
    },
  );
  await run('tc', ['filter', 'add', 'dev', DEVICE, 'parent', 'ffff:', ...filterArgs(ip)], {
    netns: namespace,
  });
  return performance.now() - started;
}
