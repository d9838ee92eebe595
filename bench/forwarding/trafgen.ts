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
}

/**
 * A trafgen packet description: 64-byte UDP frames (60 bytes plus the FCS the veth never carries). One flow
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
    '  fill(0x00, 18)',
    '}',
  ].join('\n');
}

export interface TrafgenRun {
  readonly netns: string;
  readonly device: string;
  readonly frame: FrameSpec;
  readonly packets: number;
  readonly ratePps: number;
  /** The CPU trafgen is pinned to (the router's work is steered to another one). */
  readonly cpu: number;
}

/** Sends exactly `packets` frames at a limited rate, pinned to one CPU; resolves when trafgen exits. */
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
        '--rate',
        `${r.ratePps}pps`,
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
