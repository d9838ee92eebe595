import type { Runner } from '../../exec/run.js';
import type { CapabilityCheck } from '../types.js';

/** The feature the whole backend rests on, and what to use instead, for error messages. */
export const ACT_NAT_MISSING =
  "this kernel has no act_nat (CONFIG_NET_ACT_NAT, tc 'action nat'), which the tc backend needs to translate " +
  'floating IPs; use the nftables backend (the default) or the ebpf backend instead, or run a kernel that has ' +
  'act_nat (Debian builds it as a module)';

/**
 * Probes act_nat for real in a scratch namespace: a kernel config can claim a module that cannot be loaded (these
 * machines load no modules), so only adding a nat action proves it.
 */
export async function probeActNat(run: Runner, namespace: string): Promise<CapabilityCheck> {
  const steps: [string, string[]][] = [
    ['ip', ['link', 'set', 'lo', 'up']],
    ['tc', ['qdisc', 'add', 'dev', 'lo', 'clsact']],
    [
      'tc',
      ['filter', 'add', 'dev', 'lo', 'ingress', 'protocol', 'ip', 'prio', '1', 'u32'].concat([
        'match',
        'ip',
        'dst',
        '192.0.2.1/32',
        'action',
        'nat',
        'ingress',
        '192.0.2.1/32',
        '192.0.2.2',
      ]),
    ],
  ];
  try {
    await run('ip', ['netns', 'add', namespace]);
  } catch (error) {
    return {
      name: 'act_nat',
      ok: false,
      detail: `cannot create probe namespace ${namespace}: ${firstLine(error)}`,
    };
  }
  try {
    for (const [file, args] of steps) await run(file, args, { netns: namespace });
    return { name: 'act_nat', ok: true, detail: 'tc action nat works (probed in a scratch namespace)' };
  } catch (error) {
    return { name: 'act_nat', ok: false, detail: `${ACT_NAT_MISSING} (tc said: ${firstLine(error)})` };
  } finally {
    await run('ip', ['netns', 'del', namespace]).catch(() => undefined);
  }
}

function firstLine(error: unknown): string {
  const text = (error as Error).message;
  const said = /failed \(exit \d+\): ([\s\S]*)$/.exec(text)?.[1] ?? text;
  return said.split('\n')[0]!.trim();
}
