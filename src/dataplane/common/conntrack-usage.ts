import { readFile } from 'node:fs/promises';
import { run as defaultRun, type Runner } from '../../exec/run.js';

const COUNT = '/proc/sys/net/netfilter/nf_conntrack_count';
const MAX = '/proc/sys/net/netfilter/nf_conntrack_max';

export interface ConntrackUsage {
  /** Entries in this namespace's table. */
  readonly count: number;
  /** The limit. It is global: every namespace shares the root namespace's nf_conntrack_max. */
  readonly max: number;
}

/**
 * How full the conntrack table is, as a namespace sees it. /proc/sys/net is per network namespace, so the
 * files are read from inside it (one `cat` for both); the host's own namespace is read directly.
 */
export async function readConntrackUsage(
  namespace: string | null,
  run: Runner = defaultRun,
): Promise<ConntrackUsage> {
  const text =
    namespace === null
      ? `${await readFile(COUNT, 'utf8')}\n${await readFile(MAX, 'utf8')}`
      : (await run('cat', [COUNT, MAX], { netns: namespace })).stdout;
  const [count, max] = text.split(/\s+/).filter(Boolean).map(Number);
  if (count === undefined || max === undefined || !Number.isFinite(count) || !Number.isFinite(max)) {
    throw new Error(
      `Cannot read conntrack usage in ${namespace ?? 'the host namespace'}: got '${text.trim()}'`,
    );
  }
  return { count, max };
}
