import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/exec/run.js';
import type { IPv4 } from '../../src/model/index.js';

export type FlowPattern = 'one-flow' | 'new-flows';

export interface FrameSpec {
  readonly srcMac: string;
  readonly dstMac: string;
  readonly dst: IPv4;
  readonly pattern: FlowPattern;
  /** UDP destination port; default 9 (discard). Port-forwarding runs aim at a forwarded port. */
  readonly dport?: number;
  /** IP packet length; default 46 (a 64-byte Ethernet frame with its FCS). 1500 fills a 1500-byte MTU. */
  readonly ipBytes?: number;
}

/** IP + UDP headers: the rest of an IP packet is fill. */
const HEADERS = 28;
export const MIN_IP_BYTES = 46;

/**
 * A trafgen packet description: UDP frames, by default 64 bytes (60 plus the FCS the veth never carries). One flow
 * keeps every field fixed; new flows randomise the source address's last byte (within 198.51.100.0/24) and the
 * source port for every packet, so each packet is very likely a new 5-tuple for conntrack.
 */
export function trafgenConfig(spec: FrameSpec): string {
  const src = spec.pattern === 'one-flow' ? 'sa=198.51.100.7' : 'sa=198.51.100.0, sa[3]=drnd()';
  const sport = spec.pattern === 'one-flow' ? 'sp=40000' : 'sp=drnd(1024, 65535)';
  return [
    '{',
    `  eth(da=${spec.dstMac}, sa=${spec.srcMac}, type=0x0800),`,
    `  ipv4(${src}, da=${spec.dst}, ttl=64),`,
    `  udp(${sport}, dp=${spec.dport ?? 9}),`,
    `  fill(0x00, ${(spec.ipBytes ?? MIN_IP_BYTES) - HEADERS})`,
    '}',
  ].join('\n');
}

export interface TrafgenRun {
  readonly netns: string;
  readonly device: string;
  readonly frame: FrameSpec;
  readonly packets: number;
  /** 0: as fast as trafgen can write (saturation). */
  readonly ratePps: number;
  /** The CPU trafgen is pinned to (the router's work is steered to another one). */
  readonly cpu: number;
}

/** Sends exactly `packets` frames (rate-limited unless ratePps is 0), pinned to one CPU; resolves when trafgen exits. */
export async function sendFrames(r: TrafgenRun): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sfip-trafgen-'));
  const conf = join(dir, 'frame.cfg');
  try {
    writeFileSync(conf, trafgenConfig(r.frame));
    await run(
      'taskset',
      [
        '-c',
        String(r.cpu),
        'trafgen',
        '--dev',
        r.device,
        '--conf',
        conf,
        '--cpus',
        '1',
        // Unlimited: one send per packet with no gap (-t 0). trafgen's default TX_RING mode fails with EAGAIN
        // when the router's backlog is full, which at saturation it always is.
        ...(r.ratePps > 0 ? ['--rate', `${r.ratePps}pps`] : ['-t', '0']),
        '--num',
        String(r.packets),
        '--no-cpu-stats',
      ],
      { netns: r.netns, timeoutMs: 120_000 },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
