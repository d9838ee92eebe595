import { readFileSync } from 'node:fs';

/** Capability bits (linux/capability.h) the agent needs: nft, ip and tc (NET_ADMIN), entering namespaces (SYS_ADMIN). */
const NEEDED = [
  { bit: 12, name: 'CAP_NET_ADMIN', why: 'to program nftables, routes and tc in router namespaces' },
  { bit: 21, name: 'CAP_SYS_ADMIN', why: "to enter router namespaces ('ip netns exec')" },
] as const;

/**
 * What the agent lacks to change the kernel, from /proc/self/status (CapEff). Without this check a non-root
 * serve starts silently and every floating IP then goes ERROR with "Operation not permitted".
 */
export function missingPrivileges(procStatus: string): string[] {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(procStatus)?.[1];
  const effective = hex === undefined ? 0n : BigInt(`0x${hex}`);
  return NEEDED.filter((c) => (effective & (1n << BigInt(c.bit))) === 0n).map((c) => `${c.name} (${c.why})`);
}

/**
 * Throws one message naming each missing capability and what to do; callers skip it for the fake backend.
 * `alternative` is what else the command can do without them (serve: `--no-agent`).
 */
export function checkPrivileges(
  alternative = '',
  readStatus: () => string = () => readFileSync('/proc/self/status', 'utf8'),
): void {
  const missing = missingPrivileges(readStatus());
  if (missing.length === 0) return;
  throw new Error(
    `The sfip agent changes the kernel and lacks ${missing.join(' and ')}. Run it as root ` +
      `(or grant those capabilities, as contrib/systemd/sfip.service does)${alternative ? `, or ${alternative}` : ''}.`,
  );
}
