import type { ForwardingRule } from '../types.js';

/**
 * How many entries a router's hash maps are made with. The kernel preallocates a hash map's bucket array for its
 * whole max_entries even with BPF_F_NO_PREALLOC (16 bytes a bucket, vmalloc, unswappable: 4.2 MB a map at
 * 262,144, 29.7 MB over a router's seven such maps), and a batch lookup walks every bucket, so a read costs the
 * capacity, not the entries.
 * Each router therefore gets maps sized to what it holds, with headroom, and grows through a new generation.
 */

/**
 * Room for the router to double before its next rebuild: at load 1/2 the buckets' chains stay short, and a
 * router filled one floating IP at a time is rebuilt log2(n) times, not n.
 */
const HEADROOM = 2;

/**
 * A generation is rebuilt smaller only when the size wanted now is at most 1/8 of what it has: a router that
 * shrinks and grows back by less than that factor never swaps (a swap is hitless, but resets the counters and
 * costs a build), and one that lost most of its floating IPs gives the memory back at its next full pass.
 */
const SHRINK_FACTOR = 8;

/**
 * The entries the largest capacity-sized map of a router holds: one per floating IP in the translation maps,
 * one per forwarded external port in pf_in, and in `counters` one per floating IP that sees traffic, mapped or
 * forwarded (counted per rule: a few dozen at most, so an overestimate costs nothing).
 */
export function entriesNeeded(mappings: number, forwardings: readonly ForwardingRule[] = []): number {
  let ports = 0;
  for (const r of forwardings) ports += r.externalPortEnd - r.externalPortStart + 1;
  return Math.max(mappings + forwardings.length, ports);
}

/** The capacity a new generation gets: the next power of two with headroom, at least `minimum`, at most `maximum`. */
export function chosenCapacity(needed: number, minimum: number, maximum: number): number {
  let capacity = 1;
  while (capacity < needed * HEADROOM) capacity *= 2;
  return Math.min(maximum, Math.max(minimum, capacity));
}

/**
 * Whether a generation of `capacity` keeps serving a router that needs `needed` entries: it holds them, the
 * configured maximum allows it, and it is not far too big (see SHRINK_FACTOR). The same rule for full passes
 * and deltas, so a restart after any run of deltas finds the generation it would have chosen.
 */
export function keepsCapacity(capacity: number, needed: number, minimum: number, maximum: number): boolean {
  return (
    needed <= capacity &&
    capacity <= maximum &&
    chosenCapacity(needed, minimum, maximum) * SHRINK_FACTOR > capacity
  );
}
