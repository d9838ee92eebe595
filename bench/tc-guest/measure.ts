import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/exec/run.js';
import {
  EXTERNAL_HOST,
  macOf,
  receivedPackets,
  TARGET_FIXED,
  TARGET_FLOATING,
  type BenchRouter,
} from './topology.js';

export type Direction = 'inbound' | 'outbound';

/** Kernel time of the whole (one-CPU) guest: system + irq + softirq, in nanoseconds of guest time. */
export function kernelTimeNs(): number {
  const line = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('cpu '))!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  return (f[2]! + f[5]! + f[6]!) * 10_000_000;
}

/** 64-byte UDP frames of one flow, written for trafgen. */
function frame(srcMac: string, dstMac: string, src: string, dst: string): string {
  return `{ eth(da=${dstMac}, sa=${srcMac}, type=0x0800), ipv4(sa=${src}, da=${dst}, ttl=64), udp(sp=40000, dp=9), fill(0x00, 18) }\n`;
}

export interface Sample {
  readonly router: string;
  readonly direction: Direction;
  readonly sent: number;
  readonly delivered: number;
  /** Guest kernel nanoseconds per delivered packet (with -icount: executed instructions per packet). */
  readonly nsPerPacket: number;
}

/**
 * Sends `packets` frames through one router in one direction and divides the guest's kernel time by the packets
 * delivered. Inbound frames go from the outside to the floating IP (the baseline sends to the fixed IP); outbound
 * frames go from the VM's fixed IP to the outside.
 */
export async function measure(r: BenchRouter, direction: Direction, packets: number): Promise<Sample> {
  const [from, fromDev, to, toDev] =
    direction === 'inbound' ? [r.ns.gen, 'eth0', r.ns.router, 'qg'] : [r.ns.sink, 'eth0', r.ns.router, 'qr'];
  const receiver = direction === 'inbound' ? r.ns.sink : r.ns.gen;
  const dst = direction === 'inbound' ? (r.options ? TARGET_FLOATING : TARGET_FIXED) : EXTERNAL_HOST;
  const src = direction === 'inbound' ? EXTERNAL_HOST : TARGET_FIXED;
  const dir = mkdtempSync(join(tmpdir(), 'tcbench-'));
  try {
    const conf = join(dir, 'frame.cfg');
    writeFileSync(conf, frame(await macOf(from, fromDev), await macOf(to, toDev), src, dst));
    const before = await receivedPackets(receiver);
    const t0 = kernelTimeNs();
    await run(
      'trafgen',
      ['--dev', fromDev, '--conf', conf, '--cpus', '1', '--num', String(packets), '--no-cpu-stats'],
      {
        netns: from,
        timeoutMs: 600_000,
      },
    );
    const t1 = kernelTimeNs();
    const delivered = (await receivedPackets(receiver)) - before;
    return {
      router: r.name,
      direction,
      sent: packets,
      delivered,
      nsPerPacket: delivered > 0 ? (t1 - t0) / delivered : Number.NaN,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
