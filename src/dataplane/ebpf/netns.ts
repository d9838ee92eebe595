import { parseNamespaceName } from '../../model/index.js';
import type { RunOptions, Runner, RunResult } from '../../exec/run.js';

/**
 * Runs a tool inside the router's network namespace with nsenter, switching only the network namespace, whatever
 * the Runner's `netns` option would choose (commandLine in run.ts): `ip netns exec` also remounts /sys for the
 * namespace, which hides bpffs at /sys/fs/bpf, and tc could then not find the pinned programs it attaches.
 */
export function runInNetns(
  run: Runner,
  namespace: string | null,
  file: string,
  args: readonly string[],
  options: Omit<RunOptions, 'netns'> = {},
): Promise<RunResult> {
  if (namespace === null) return run(file, args, options);
  return run('nsenter', [`--net=/run/netns/${parseNamespaceName(namespace)}`, '--', file, ...args], options);
}
