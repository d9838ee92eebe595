import type { Logger } from 'pino';
import { liveAgents, rescheduleRouters, type Context } from '../model/index.js';
import type { Store } from '../store/index.js';

export interface SchedulerOptions {
  readonly store: Store;
  /** This agent's node. */
  readonly host: string;
  readonly ctx: Context;
  readonly log: Logger;
  /** Safety net besides the change notifications. Default 1 s. */
  readonly intervalMs?: number;
}

/**
 * Moves routers off nodes whose agent is gone, onto live ones. Every agent runs one, but only the live agent
 * whose node name sorts first acts, so they rarely race; when they do (their views differ for a moment), the
 * store's transaction lets one move win and the other finds nothing left to do.
 */
export class Scheduler {
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly options: SchedulerOptions) {}

  start(): void {
    this.unsubscribe = this.options.store.onChange(() => this.kick());
    this.timer = setInterval(() => this.kick(), this.options.intervalMs ?? 1000);
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    clearInterval(this.timer);
    await this.running;
  }

  /** Runs one pass now (or right after the current one). */
  kick(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.pass()
      .catch((error) =>
        this.options.log.warn({ err: (error as Error).message }, 'rescheduling failed; will retry'),
      )
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          void this.kick();
        }
      });
    return this.running;
  }

  private async pass(): Promise<void> {
    const { store, host, ctx, log } = this.options;
    const due = await store.read((view) => {
      const agents = liveAgents(view);
      if (agents[0]?.host !== host) return false;
      const live = new Set(agents.map((a) => a.host));
      return view.list('router').some((r) => !r.node || !live.has(r.node));
    });
    if (!due) return;
    const moves = await store.update((tx) => rescheduleRouters(tx, ctx));
    for (const move of moves) {
      log.info({ router: move.routerId, from: move.from, to: move.to }, 'rescheduled router');
    }
  }
}
