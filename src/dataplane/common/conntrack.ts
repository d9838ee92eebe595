import { run as defaultRun, type Runner } from '../../exec/run.js';

/** Above this many addresses, list the table once and only delete for addresses that actually have entries. */
const TARGETED_LIMIT = 16;

export interface StaleAddresses {
  /** Fixed IPs that gained, lost or changed a floating IP. */
  readonly fixedIps: readonly string[];
  /** Floating addresses that appeared, disappeared or moved. */
  readonly floatingIps: readonly string[];
}

/**
 * Deletes conntrack entries that a mapping change made stale: shared-SNAT flows of a fixed IP that now has its
 * own floating IP, stateful hairpin flows to a floating address that moved, anything DNATed to a fixed IP
 * that changed. Without this, an old entry keeps a connection alive after a disassociation (OSSN-0020).
 * Returns how many entries were deleted.
 */
export async function deleteStaleConntrack(
  namespace: string | null,
  stale: StaleAddresses,
  run: Runner = defaultRun,
): Promise<number> {
  let fixed = [...new Set(stale.fixedIps)];
  let floating = [...new Set(stale.floatingIps)];
  if (fixed.length + floating.length === 0) return 0;
  if (fixed.length + floating.length > TARGETED_LIMIT) {
    const present = await addressesWithEntries(namespace, run);
    fixed = fixed.filter((ip) => present.has(ip));
    floating = floating.filter((ip) => present.has(ip));
  }
  let deleted = 0;
  const jobs: string[][] = [
    ...fixed.flatMap((ip) => [
      ['-D', '-s', ip],
      ['-D', '-r', ip],
    ]),
    ...floating.map((ip) => ['-D', '-d', ip]),
  ];
  for (const args of jobs) {
    // conntrack exits 1 when no entry matched; that is the common, healthy case.
    const { stderr } = await run('conntrack', args, { netns: namespace, okExitCodes: [1] });
    deleted += Number(/(\d+) flow entries have been deleted/.exec(stderr)?.[1] ?? 0);
  }
  return deleted;
}

async function addressesWithEntries(namespace: string | null, run: Runner): Promise<Set<string>> {
  const { stdout } = await run('conntrack', ['-L', '-f', 'ipv4'], { netns: namespace, okExitCodes: [1] });
  return new Set([...stdout.matchAll(/(?:src|dst)=([0-9.]+)/g)].map((m) => m[1]!));
}
