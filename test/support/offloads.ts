import { run } from '../../src/exec/run.js';

export interface OffloadSetting {
  readonly namespace: string;
  readonly device: string;
  /** Transmit checksum offload: on, the packet leaves as CHECKSUM_PARTIAL and nobody computes the sum yet. */
  readonly tx: boolean;
  /** Receive checksum offload: on, veth marks an arriving packet as verified without checking it. */
  readonly rx: boolean;
  /** Segmentation offload (needs tx): on, TCP hands over 64 KB GSO packets that are cut up later. */
  readonly tso?: boolean;
}

/**
 * veth trusts checksums unless told not to, so wrong checksums would pass unnoticed between namespaces. Turning
 * offloads off makes every receiver verify in software, and turning them off only on some hops makes the
 * kernel complete CHECKSUM_PARTIAL sums there, after the programs patched them.
 */
export async function setOffloads(settings: readonly OffloadSetting[]): Promise<void> {
  for (const s of settings) {
    const tso = s.tso === undefined ? [] : ['tso', s.tso ? 'on' : 'off', 'gso', s.tso ? 'on' : 'off'];
    await run('ethtool', ['-K', s.device, 'tx', s.tx ? 'on' : 'off', 'rx', s.rx ? 'on' : 'off', ...tso], {
      netns: s.namespace,
    });
  }
}

/** Checksum error counters of a namespace (/proc/net/snmp is per network namespace). */
export async function checksumErrors(namespace: string): Promise<Record<string, number>> {
  const { stdout } = await run('cat', ['/proc/net/snmp'], { netns: namespace });
  const lines = stdout.split('\n');
  const out: Record<string, number> = {};
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i]!.split(/\s+/);
    const values = lines[i + 1]!.split(/\s+/);
    const proto = names[0]!.replace(':', '');
    names.forEach((n, j) => {
      if (n === 'InCsumErrors') out[proto] = Number(values[j]);
    });
  }
  return out;
}
