import type { RouterDataplane } from '../dataplane/router-dataplane.js';
import type { ActualRouter, BackendState, DesiredRouter } from '../dataplane/types.js';

/** Mappings per step when a router is filled from nothing (see fillInChunks). */
export const FILL_CHUNK = 20_000;

/**
 * Whether a router is filled in chunks: the kernel holds nothing of it (no table or generation, no floating
 * address), it wants more than one chunk of mappings, and its backend takes deltas against a kept record and
 * applies out of process (measured: eBPF's in-process map writes took more CPU in steps than in one go).
 */
export function fillsInChunks(
  layer: RouterDataplane,
  desired: DesiredRouter,
  actual: BackendState & ActualRouter,
  chunk: number,
): boolean {
  return (
    !actual.present &&
    actual.addresses.size === 0 &&
    desired.mappings.length > chunk &&
    layer.backend.appliesOutOfProcess === true &&
    layer.backend.planDelta !== undefined &&
    layer.backend.readsEveryPass !== true
  );
}

/** What a chunked fill did, for the pass's outcome. */
export interface FillOutcome {
  readonly conntrackDeleted: number;
  readonly steps: number;
}

/**
 * Programs a router the kernel holds nothing of, `chunk` mappings at a time: the first chunk as a whole-router
 * apply (the structure, and the port forwardings), every other one as a delta against the router layer's record.
 * Each step is the router layer's own (translation first, then the floating addresses, conntrack, GARP).
 *
 * Why: at 100,000 floating IPs one transaction keeps the agent waiting seconds on `nft -f` parsing its text, and
 * only then writes 100,000 statuses. Step by step, `onApplied(from, to)` (the status writes of mappings
 * [from, to)) runs while the next step is in the kernel, so the two overlap. A mapping is reported only once its
 * step has been applied. Nothing was there before, so no packet of an existing mapping can notice the steps.
 */
export async function fillInChunks(
  layer: RouterDataplane,
  desired: DesiredRouter,
  actual: BackendState & ActualRouter,
  chunk: number,
  onApplied: (from: number, to: number) => Promise<void>,
): Promise<FillOutcome> {
  const total = desired.mappings.length;
  const first: DesiredRouter = { ...desired, mappings: desired.mappings.slice(0, chunk) };
  let conntrackDeleted = await layer.apply(layer.plan(first, actual), first, actual);
  let steps = 1;
  let reporting = onApplied(0, first.mappings.length);
  // Settled below; until then a failure must not count as unhandled.
  reporting.catch(() => undefined);
  if (!layer.acceptsDelta(first)) {
    // A rebuild the backend cannot describe without a read (eBPF's new generation): read it once, while small.
    const read = await layer.read(first);
    conntrackDeleted += await layer.apply(layer.plan(first, read), first, read);
    steps++;
    if (!layer.acceptsDelta(first))
      throw new Error(`router ${desired.routerId}: no trusted record to fill from`);
  }
  for (let from = first.mappings.length; from < total; from += chunk) {
    const to = Math.min(total, from + chunk);
    const change = { added: desired.mappings.slice(from, to), removed: [] };
    const plan = layer.planDelta(desired, change, to);
    if (!plan) throw new Error(`router ${desired.routerId}: its record was lost during a fill`);
    // The kernel takes this step while the previous one's statuses are written; both settle before the next.
    const [applied, reported] = await Promise.allSettled([
      layer.applyDelta(plan, desired, change),
      reporting,
    ]);
    if (applied.status === 'rejected') throw applied.reason;
    if (reported.status === 'rejected') throw reported.reason;
    conntrackDeleted += applied.value;
    steps++;
    reporting = onApplied(from, to);
    reporting.catch(() => undefined);
  }
  await reporting;
  return { conntrackDeleted, steps };
}
