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

/** Throws one message naming each missing capability and what to do; the caller skips it for the fake backend. */
export function checkPrivileges(
  readStatus: () => string = () => readFileSync('/proc/self/status', 'utf8'),
): void {
  const missing = missingPrivileges(readStatus());
  if (missing.length === 0) return;
  throw new Error(
    `sfip serve's agent changes the kernel and lacks ${missing.join(' and ')}. Run it as root ` +
      '(or grant those capabilities, as contrib/systemd does), or run only the API with --no-agent.',
  );
}
