import type { Runner } from '../../exec/run.js';
import { sumCounters, type FipCounters } from './values.js';

interface DumpEntry {
  key?: string[];
  values?: { cpu: number; value: string[] }[];
}

/**
 * Per-floating-IP packet and byte counters, summed over CPUs. Read through bpftool, which knows how the kernel
 * lays out per-CPU values; counters are read rarely, so one process per read is fine.
 */
export async function readCounters(run: Runner, mapPath: string): Promise<Map<string, FipCounters>> {
  const { stdout } = await run('bpftool', ['-j', 'map', 'dump', 'pinned', mapPath]);
  return parseCounterDump(stdout);
}

export function parseCounterDump(json: string): Map<string, FipCounters> {
  const out = new Map<string, FipCounters>();
  for (const entry of JSON.parse(json || '[]') as DumpEntry[]) {
    if (!entry.key || entry.key.length !== 4 || !entry.values) continue;
    const fip = entry.key.map((b) => parseInt(b, 16)).join('.');
    const perCpu = Buffer.concat(entry.values.map((v) => Buffer.from(v.value.map((b) => parseInt(b, 16)))));
    out.set(fip, sumCounters(perCpu));
  }
  return out;
}
