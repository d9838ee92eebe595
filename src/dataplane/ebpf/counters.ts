import { readFileSync } from 'node:fs';
import { lookupBatches } from './batch-syscalls.js';
import { openPinnedMap } from './maps.js';
import { addressText, sumCounters, type FipCounters } from './values.js';

/** struct fip_counters: four u64, one copy per possible CPU. */
const COUNTERS_SIZE = 32;
/** Entries per lookup syscall, as for the translation maps. */
const BATCH = 8192;

/**
 * Per-floating-IP packet and byte counters, summed over CPUs, read with batch lookup syscalls. A scrape reads every
 * router's counters: through `bpftool map dump` that was one process per router, each holding the daemon's event
 * loop 4-9 ms while it started (100 routers: up to a second of a scrape, in every API request and change waiting
 * behind it), and JSON of hex strings to parse. A per-CPU map hands each value as one slot per possible CPU, each
 * rounded up to 8 bytes (kernel/bpf/syscall.c, bpf_map_value_size).
 */
export function readCounters(mapPath: string): Map<string, FipCounters> {
  const map = openPinnedMap(mapPath);
  if (!map) throw new Error(`BPF map ${mapPath} is missing`);
  try {
    const stride = Math.ceil(COUNTERS_SIZE / 8) * 8 * possibleCpus();
    const out = new Map<string, FipCounters>();
    const keySize = map.ref.keySize;
    for (const batch of lookupBatches({ fd: map.ref.fd, keySize, valueSize: stride }, BATCH)) {
      for (let i = 0; i < batch.count; i++) {
        const perCpu = batch.values.subarray(i * stride, (i + 1) * stride);
        out.set(addressText(batch.keys, i * keySize), sumCounters(perCpu, COUNTERS_SIZE));
      }
    }
    return out;
  } finally {
    map.close();
  }
}

let possible: number | undefined;

/**
 * How many CPUs the kernel sizes per-CPU values for: the highest possible CPU plus one, from
 * /sys/devices/system/cpu/possible ("0-1", "0,2-5"), as libbpf counts them.
 */
export function possibleCpus(text?: string): number {
  if (text === undefined && possible !== undefined) return possible;
  const ranges = (text ?? readFileSync('/sys/devices/system/cpu/possible', 'utf8')).trim().split(',');
  const highest = Math.max(...ranges.map((r) => Number(r.split('-').at(-1))));
  if (!Number.isInteger(highest) || highest < 0)
    throw new Error(`Cannot tell the possible CPUs from '${text}'`);
  if (text === undefined) possible = highest + 1;
  return highest + 1;
}
