/**
 * The share of the resync interval over which a periodic round marks its routers, one at a time; the rest of the
 * interval is slack for passes that run late, so that every router is still resynced once per interval.
 */
export const RESYNC_SPREAD = 0.5;

/**
 * Spreads a periodic resync round over its interval: the routers are marked one after another, evenly spaced
 * over RESYNC_SPREAD of the interval, instead of all at once. Marked at once, 100 routers' kernel reads (each
 * several short-lived programs for eBPF, a ruleset listing and a set dump for nftables) ran back to back on a
 * machine already busy with churn, and the floating IP changes applied meanwhile waited for CPU (issue 15's churn
 * tail at 100 routers). Spread, a round costs the same work as a steady trickle.
 */
export class ResyncPacer {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly mark: (routerId: string) => void) {}

  /**
   * Starts a round over `routerIds`: the first is marked now, the last `RESYNC_SPREAD × intervalMs` × (n-1)/n
   * later. A round still marking when the next starts is cut short: the next one covers every router again.
   */
  round(routerIds: readonly string[], intervalMs: number): void {
    this.stop();
    if (routerIds.length === 0) return;
    const stepMs = (intervalMs * RESYNC_SPREAD) / routerIds.length;
    let next = 0;
    const step = () => {
      this.timer = undefined;
      this.mark(routerIds[next++]!);
      if (next >= routerIds.length) return;
      this.timer = setTimeout(step, stepMs);
      // The agent's own timers never hold the process (see Agent.start).
      this.timer.unref();
    };
    step();
  }

  /** Marks nothing more of the round in progress. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
