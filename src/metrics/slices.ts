import { yieldToLoop } from '../dataplane/common/yield-to-loop.js';

/**
 * Cooperative slicing for work over 100,000 floating IPs on the daemon's event loop: the work runs in slices and
 * yields between them, so API requests that arrive meanwhile wait for one slice (a few milliseconds), not for the
 * whole job. Measured at 100,000 floating IPs, the unsliced parse, join and text of one scrape held the loop for
 * about 0.8 s (docs/metrics.md).
 */

/** How many items (floating IPs, lines) between two looks at a LoopBudget: a fraction of a millisecond of work. */
export const CHECK_EVERY = 256;

/** How long work may hold the loop between two yields (LoopBudget's default), in ms. */
export const LOOP_BUDGET_MS = 4;

/**
 * Slices sized by time rather than by count: a fixed count of items is a few ms on an idle machine but tens of
 * ms on a loaded one or for costlier items (2,000 floating IPs of /metrics text measured 20-70 ms at load 5), and
 * writing a body to a socket that keeps accepting has no count at all. Work checks `spent()` between small units
 * and yields once the budget is used up.
 */
export class LoopBudget {
  private since: number;

  constructor(
    private readonly budgetMs = LOOP_BUDGET_MS,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.since = now();
  }

  /** True once the work since the last yield has held the loop for the budget. */
  spent(): boolean {
    return this.now() - this.since >= this.budgetMs;
  }

  /** Lets the loop run, then starts a new budget. */
  async yield(): Promise<void> {
    await yieldToLoop();
    this.since = this.now();
  }

  /** Yields only when the budget is spent. */
  async check(): Promise<void> {
    if (this.spent()) await this.yield();
  }
}

/**
 * Runs `each` over items 0 to `count` in runs of CHECK_EVERY (`each(start, end)`, end exclusive), looking at the
 * budget after each run: the shape of every sliced walk over a list of floating IPs.
 */
export async function inSlices(
  count: number,
  budget: LoopBudget,
  each: (start: number, end: number) => void,
): Promise<void> {
  for (let start = 0; start < count; start += CHECK_EVERY) {
    each(start, Math.min(start + CHECK_EVERY, count));
    await budget.check();
  }
}
