import { isNamespaceGone, run as defaultRun, type Runner } from '../../exec/run.js';
import type { RouterTarget } from '../types.js';

/**
 * A dead man's switch for a router's announcements, kept by the kernel itself. An `arp` family table drops every
 * ARP packet in and out of the gateway device unless the device is in a set whose one element times out: the
 * agent rewrites the element with a shorter timeout than its lease can run, after each lease renewal. If the
 * agent dies, hangs or loses etcd, the element expires before the lease can, and the node stops answering ARP
 * for the router's floating IPs (and sends none) before any other node may take them over. Independent of the
 * dataplane backend; one table per router, named after it, so it never touches anything else.
 */
const TABLE_PREFIX = 'sfip_fence_';

export function fenceTableName(routerId: string): string {
  return TABLE_PREFIX + routerId.replace(/-/g, '');
}

/** The whole table, recreated in one transaction: nothing is ever unfenced in between, and drift is repaired. */
export function renderFence(target: RouterTarget, timeoutMs: number): string {
  const table = fenceTableName(target.routerId);
  const dev = JSON.stringify(target.gatewayDevice);
  const ms = Math.max(1, Math.floor(timeoutMs));
  return [
    `add table arp ${table}`,
    `delete table arp ${table}`,
    `table arp ${table} {`,
    `  set live {`,
    `    type ifname`,
    `    flags timeout`,
    `    elements = { ${dev} timeout ${ms}ms }`,
    `  }`,
    `  chain input {`,
    `    type filter hook input priority 0; policy accept;`,
    `    iifname ${dev} iifname != @live drop`,
    `  }`,
    `  chain output {`,
    `    type filter hook output priority 0; policy accept;`,
    `    oifname ${dev} oifname != @live drop`,
    `  }`,
    `}`,
    '',
  ].join('\n');
}

export function renderUnfence(target: RouterTarget): string {
  const table = fenceTableName(target.routerId);
  return `add table arp ${table}\ndelete table arp ${table}\n`;
}

export async function armFence(
  target: RouterTarget,
  timeoutMs: number,
  run: Runner = defaultRun,
): Promise<void> {
  await run('nft', ['-f', '-'], { netns: target.namespace, input: renderFence(target, timeoutMs) });
}

export async function removeFence(target: RouterTarget, run: Runner = defaultRun): Promise<void> {
  try {
    await run('nft', ['-f', '-'], { netns: target.namespace, input: renderUnfence(target) });
  } catch (error) {
    // A namespace that is gone took the fence with it.
    if (isNamespaceGone(error)) return;
    throw error;
  }
}

/**
 * Milliseconds until a router's fence closes: undefined when it has no fence, 0 when it is closed. Read from
 * nft's text output, which shows milliseconds (its JSON rounds to whole seconds).
 */
export async function fenceRemainingMs(
  target: RouterTarget,
  run: Runner = defaultRun,
): Promise<number | undefined> {
  let stdout: string;
  try {
    ({ stdout } = await run('nft', ['list', 'set', 'arp', fenceTableName(target.routerId), 'live'], {
      netns: target.namespace,
    }));
  } catch {
    return undefined;
  }
  const m = /expires ((\d+)m)?((\d+)s)?((\d+)ms)?/.exec(stdout);
  if (!m) return 0;
  return Number(m[2] ?? 0) * 60_000 + Number(m[4] ?? 0) * 1000 + Number(m[6] ?? 0);
}
