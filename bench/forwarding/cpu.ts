import { readFileSync } from 'node:fs';

/** Kernel time of one CPU from /proc/stat, in nanoseconds: system + irq + softirq (where forwarding runs). */
export function kernelTimeNs(cpu: number): number {
  const line = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`cpu${cpu} `));
  if (!line) throw new Error(`/proc/stat has no line for cpu${cpu}`);
  // cpuN user nice system idle iowait irq softirq steal ...; values in USER_HZ ticks (100 per second).
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const ticks = f[2]! + f[5]! + f[6]!;
  return ticks * 10_000_000;
}

/**
 * Receive softirqs (NET_RX) one CPU has run so far, from /proc/softirqs. Packets per softirq tells how well a
 * configuration batches: a router that empties its queue mid-burst takes more softirqs (and interrupts) for the
 * same packets, which is a cost of the arrival pattern, not of the forwarding path.
 */
export function netRxSoftirqs(cpu: number): number {
  const line = readFileSync('/proc/softirqs', 'utf8')
    .split('\n')
    .find((l) => l.trim().startsWith('NET_RX:'));
  if (!line) throw new Error('/proc/softirqs has no NET_RX line');
  const value = Number(line.trim().split(/\s+/)[cpu + 1]);
  if (!Number.isFinite(value)) throw new Error(`/proc/softirqs has no NET_RX column for CPU ${cpu}`);
  return value;
}
