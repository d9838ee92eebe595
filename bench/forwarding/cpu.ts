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
