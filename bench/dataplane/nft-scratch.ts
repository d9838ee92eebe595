/**
 * The scratch router of the nftables load benchmarks (nft-load-scratch.ts, nft-load-sets.ts): N floating IPs with
 * MACs in a namespace of their own, and programs timed with their CPU.
 */
import { readFileSync } from 'node:fs';
import type { DesiredRouter } from '../../src/dataplane/types.js';
import { run } from '../../src/exec/run.js';
import { ipv4FromUint32 } from '../../src/model/index.js';

export function scratchRouter(ns: string, fips: number): DesiredRouter {
  return {
    routerId: '9a0c4a3e-6a55-4d4f-8d5e-0b1c2d3e4f50',
    namespace: ns,
    gatewayDevice: 'qg-s',
    gatewayIp: ipv4FromUint32(0xc6336402),
    internalCidrs: ['10.0.0.0/8'],
    mappings: Array.from({ length: fips }, (_, i) => ({
      floatingIp: ipv4FromUint32(0x64400000 + i),
      fixedIp: ipv4FromUint32(0x0a000000 + i + 1),
      fixedMac: `fa:16:3e:${[16, 8, 0].map((s) => ((i >> s) & 255).toString(16).padStart(2, '0')).join(':')}`,
    })),
  };
}

/**
 * CPU time of this process's reaped children, in ms (/proc/self/stat cutime and cstime, in clock ticks of 10 ms):
 * `ip netns exec` and setpriv exec the program in place, so the difference over one run() is that program's.
 */
function childCpu(): { user: number; sys: number } {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(fields[13]) * 10, sys: Number(fields[14]) * 10 };
}

export interface Timed {
  readonly wall: number;
  readonly user: number;
  readonly sys: number;
}

/** Runs a program in the namespace: wall time, and its user and system CPU. */
export async function timedIn(ns: string, file: string, args: string[], input: string): Promise<Timed> {
  const before = childCpu();
  const t0 = performance.now();
  await run(file, args, { netns: ns, input });
  const wall = performance.now() - t0;
  const after = childCpu();
  return { wall, user: after.user - before.user, sys: after.sys - before.sys };
}

/** The scratch namespace with the router's gateway device; `body` runs in it, and the namespace goes after. */
export async function inScratchNamespace(ns: string, body: () => Promise<void>): Promise<void> {
  await run('ip', ['netns', 'add', ns]);
  try {
    await run('ip', ['-n', ns, 'link', 'add', 'qg-s', 'type', 'veth', 'peer', 'name', 'qg-t']);
    await body();
  } finally {
    await run('ip', ['netns', 'del', ns]);
  }
}
