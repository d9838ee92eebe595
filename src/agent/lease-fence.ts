import type { Logger } from 'pino';
import { armFence, removeFence, type RouterTarget } from '../dataplane/index.js';
import type { AgentRegistration } from '../store/index.js';
import { GuardRefusal, type RouterGuard } from './router-reconciler.js';

export interface LeaseFenceOptions {
  readonly log: Logger;
  /**
   * How long before the lease could expire the kernel stops announcing. It must cover the time an `nft` run
   * takes (the element's timeout starts when the kernel inserts it, a little after it was computed) and clock
   * rate differences between this node and etcd. Default: a quarter of the TTL, at least 250 ms.
   */
  readonly marginMs?: number;
  /** Called after a renewal when an arm was refused since the previous one. */
  readonly onReopen?: () => void;
  /** For tests: how fences are written. */
  readonly arm?: typeof armFence;
  readonly remove?: typeof removeFence;
}

/**
 * The lease side of split-brain safety. Every router this node announces gets an ARP fence (see arp-fence.ts)
 * whose timeout ends `margin` before the agent's lease can expire at etcd, and every lease renewal pushes all
 * fences forward. Another node only takes a router over after etcd expired this agent's lease, by which time
 * every fence here has closed, whether this agent is alive, hung, cut off from etcd or killed.
 *
 *     renewal sent at s, acknowledged; etcd expires the lease no earlier than s + TTL
 *     fence closes at  s + TTL - margin  (< expiry)
 *     another node is told of the expiry after s + TTL, reschedules, programs, sends GARP
 */
export class LeaseFence implements RouterGuard {
  private registration: AgentRegistration | undefined;
  /** Fenced routers, and when (performance.now() time) the fence last written for each closes. */
  private readonly armed = new Map<string, { target: RouterTarget; closesAt: number }>();
  private readonly marginMs: number;
  private refreshing: Promise<void> | undefined;
  private refused = false;

  constructor(private readonly options: LeaseFenceOptions & { ttlSeconds: number }) {
    this.marginMs = options.marginMs ?? Math.max(250, (options.ttlSeconds * 1000) / 4);
  }

  /** Follows a (new) registration: fences are renewed with it; without one, nothing may be armed. */
  follow(registration: AgentRegistration | undefined): void {
    this.registration = registration;
    registration?.on('renewed', () => {
      void this.refresh();
      if (this.refused) {
        this.refused = false;
        this.options.onReopen?.();
      }
    });
  }

  /** `performance.now()` time at which every fence written now closes. */
  deadline(): number {
    return (this.registration?.validUntil() ?? 0) - this.marginMs;
  }

  async arm(target: RouterTarget): Promise<void> {
    const known = this.armed.get(target.routerId);
    const same =
      known?.target.namespace === target.namespace && known.target.gatewayDevice === target.gatewayDevice;
    if (same && known.closesAt > performance.now() && this.remaining() > 0) return;
    this.armed.set(target.routerId, { target, closesAt: await this.write(target) });
  }

  async disarm(target: RouterTarget): Promise<void> {
    this.armed.delete(target.routerId);
    await (this.options.remove ?? removeFence)(target);
  }

  /**
   * Pushes fences forward to the current deadline after a renewal, each once the deadline has moved a quarter
   * TTL past what was written (renewals come every TTL/6: this halves the nft runs). One refresh at a time.
   */
  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      const step = (this.options.ttlSeconds * 1000) / 4;
      for (const [routerId, entry] of [...this.armed]) {
        if (this.deadline() - entry.closesAt < step) continue;
        const target = entry.target;
        try {
          const closesAt = await this.write(target);
          if (this.armed.get(routerId) === entry) this.armed.set(routerId, { target, closesAt });
        } catch (error) {
          this.options.log.warn(
            { router: target.routerId, namespace: target.namespace, err: (error as Error).message },
            'cannot renew the ARP fence',
          );
        }
      }
    })().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private remaining(): number {
    return this.deadline() - performance.now();
  }

  /** Writes a router's fence to close at the current deadline; returns that deadline. */
  private async write(target: RouterTarget): Promise<number> {
    const deadline = this.deadline();
    const remaining = deadline - performance.now();
    if (remaining <= 0) {
      this.refused = true;
      throw new GuardRefusal(
        'this agent cannot prove it still holds its lease (etcd unreachable or the lease expired), so it may not announce routers now',
      );
    }
    const started = performance.now();
    await (this.options.arm ?? armFence)(target, remaining);
    const took = performance.now() - started;
    if (took > this.marginMs / 2) {
      this.options.log.warn(
        { router: target.routerId, tookMs: Math.round(took), marginMs: this.marginMs },
        'writing an ARP fence took more than half the safety margin: raise the lease TTL',
      );
    }
    return deadline;
  }
}
