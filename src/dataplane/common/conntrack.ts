import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { run as defaultRun, type Runner } from '../../exec/run.js';
import { inSlices, type LoopBudget } from '../../metrics/slices.js';

/** Above this many addresses, list the table once and only delete for addresses that actually have entries. */
const TARGETED_LIMIT = 16;

/** Which address of an entry a delete matches, as conntrack's flags: -s (original source), -r (reply source), -d. */
export type ConntrackField = 'src' | 'rsrc' | 'dst';

export interface ConntrackMatch {
  readonly field: ConntrackField;
  readonly address: string;
}

/**
 * Deletes a namespace's IPv4 conntrack entries that match any of the pairs, answering how many went: the long-lived
 * native helper (SetDumpChannel), which starts no process per cleanup.
 */
export interface ConntrackDeleter {
  deleteConntrack(namespace: string | null, matches: readonly ConntrackMatch[]): Promise<number>;
}

const FLAGS: Record<ConntrackField, string> = { src: '-s', rsrc: '-r', dst: '-d' };

export interface StaleAddresses {
  /** Fixed IPs that gained, lost or changed a floating IP, each once. */
  readonly fixedIps: readonly string[];
  /** Floating addresses that appeared, disappeared or moved, each once. */
  readonly floatingIps: readonly string[];
}

/**
 * The addresses whose conntrack entries a change of these mappings may have made stale, each once. Apart from
 * deleteStaleConntrack so that it can be worked out before the change is in the kernel (a converge's 200,000
 * addresses: tens of ms, here in slices of `budget`), while only the deletes must wait for it.
 */
export async function staleAddresses(
  changed: readonly { readonly fixedIp: string; readonly floatingIp: string }[],
  budget: LoopBudget,
): Promise<StaleAddresses> {
  const fixed = new Set<string>();
  const floating = new Set<string>();
  await inSlices(changed.length, budget, (start, end) => {
    for (let i = start; i < end; i++) {
      fixed.add(changed[i]!.fixedIp);
      floating.add(changed[i]!.floatingIp);
    }
  });
  return { fixedIps: [...fixed], floatingIps: [...floating] };
}

/**
 * Deletes conntrack entries that a mapping change made stale: shared-SNAT flows of a fixed IP that now has its
 * own floating IP, stateful hairpin flows to a floating address that moved, anything DNATed to a fixed IP
 * that changed. Without this, an old entry keeps a connection alive after a disassociation (OSSN-0020).
 * Returns how many entries were deleted. With `deleter` (the native helper, when built) the deletes go through it;
 * without, one `conntrack -D` process per address and direction, each a fork of the daemon on the change's path.
 */
export async function deleteStaleConntrack(
  namespace: string | null,
  stale: StaleAddresses,
  run: Runner = defaultRun,
  procNet: string | null = null,
  deleter: ConntrackDeleter | null = null,
): Promise<number> {
  let fixed = stale.fixedIps;
  let floating = stale.floatingIps;
  if (fixed.length + floating.length === 0) return 0;
  const present = procNet ? await addressesInProc(procNet) : undefined;
  if (present) {
    // Read without starting a process: usually no entry names these addresses, and nothing runs at all.
    fixed = fixed.filter((ip) => present.has(ip));
    floating = floating.filter((ip) => present.has(ip));
  } else if (!deleter && fixed.length + floating.length > TARGETED_LIMIT) {
    // (The helper dumps the table once per request whatever the count: listing it first would only add a pass.)
    const present = await addressesWithEntries(namespace, run);
    fixed = fixed.filter((ip) => present.has(ip));
    floating = floating.filter((ip) => present.has(ip));
  }
  const matches: ConntrackMatch[] = [
    ...fixed.flatMap((address) => [
      { field: 'src' as const, address },
      { field: 'rsrc' as const, address },
    ]),
    ...floating.map((address) => ({ field: 'dst' as const, address })),
  ];
  if (matches.length === 0) return 0;
  if (deleter) return deleter.deleteConntrack(namespace, matches);
  let deleted = 0;
  for (const { field, address } of matches) {
    // conntrack exits 1 when no entry matched; that is the common, healthy case.
    const { stderr } = await run('conntrack', ['-D', FLAGS[field], address], {
      netns: namespace,
      okExitCodes: [1],
    });
    deleted += Number(/(\d+) flow entries have been deleted/.exec(stderr)?.[1] ?? 0);
  }
  return deleted;
}

async function addressesWithEntries(namespace: string | null, run: Runner): Promise<Set<string>> {
  const { stdout } = await run('conntrack', ['-L', '-f', 'ipv4'], { netns: namespace, okExitCodes: [1] });
  return new Set([...stdout.matchAll(/(?:src|dst)=([0-9.]+)/g)].map((m) => m[1]!));
}

/** Above this many entries, the text table is not read in-process (it would cost more than `conntrack -L`). */
const PROC_READ_LIMIT = 20_000;

/**
 * The addresses in a namespace's conntrack table, read from /proc/<pid>/net of a process inside it (the
 * kernel's NF_CONNTRACK_PROCFS files): an empty set when the table is empty, undefined when it cannot be read
 * or is too large to read this way.
 */
async function addressesInProc(procNet: string): Promise<Set<string> | undefined> {
  try {
    // Read at once, not through the thread pool: a few hundred bytes, asked on every delta. Through the pool (open,
    // stat, reads, close: a round trip each) the cleanup step measured p50 160 ms of a 320 ms delta with 100
    // routers churning on a loaded machine, queued behind the other deltas' and the API's file work.
    const stat = readFileSync(`${procNet}/stat/nf_conntrack`, 'utf8');
    // The first column of every CPU line is the namespace's entry count, in hex.
    const entries = Number.parseInt(stat.split('\n')[1]?.trim().split(/\s+/)[0] ?? '', 16);
    if (!Number.isFinite(entries) || entries > PROC_READ_LIMIT) return undefined;
    if (entries === 0) return new Set();
    const table = await readFile(`${procNet}/nf_conntrack`, 'utf8');
    return new Set([...table.matchAll(/(?:src|dst)=([0-9.]+)/g)].map((m) => m[1]!));
  } catch {
    return undefined;
  }
}
