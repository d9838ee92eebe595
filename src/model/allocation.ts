import type { AllocationPool } from './entities.js';
import { IPv4, ipv4FromUint32, ipv4ToUint32 } from './ipv4.js';

/**
 * Finds a free address in the pools, scanning from `hint` (wrapping around) so that a run of allocations costs
 * O(1) each instead of rescanning the taken prefix of the pool every time. The caller's transaction makes the
 * result safe under concurrency: it checks `isTaken` and writes the allocation atomically.
 */
export function allocateAddress(
  pools: readonly AllocationPool[],
  isTaken: (ip: IPv4) => boolean,
  hint?: IPv4,
): IPv4 | undefined {
  const ranges = pools
    .map((p) => [ipv4ToUint32(p.start), ipv4ToUint32(p.end)] as const)
    .sort((a, b) => a[0] - b[0]);
  const start = hint === undefined ? undefined : ipv4ToUint32(hint);
  const inOrder = (from: number | undefined) =>
    ranges.flatMap(([lo, hi]) => (from === undefined || hi >= from ? [[Math.max(lo, from ?? lo), hi]] : []));
  const passes = [
    inOrder(start),
    start === undefined ? [] : ranges.map(([lo, hi]) => [lo, Math.min(hi, start)]),
  ];
  for (const pass of passes) {
    for (const [lo, hi] of pass) {
      for (let n = lo!; n <= hi!; n++) {
        const ip = ipv4FromUint32(n);
        if (!isTaken(ip)) return ip;
      }
    }
  }
  return undefined;
}

export function poolContains(pools: readonly AllocationPool[], ip: IPv4): boolean {
  const n = ipv4ToUint32(ip);
  return pools.some((p) => ipv4ToUint32(p.start) <= n && n <= ipv4ToUint32(p.end));
}

export function poolSize(pools: readonly AllocationPool[]): number {
  return pools.reduce((sum, p) => sum + ipv4ToUint32(p.end) - ipv4ToUint32(p.start) + 1, 0);
}
