import type { EventEmitter } from 'node:events';
import type { ReconcileOutcome } from '../agent/index.js';

/** What kind of pass a reconcile was, for people reading the dashboard and for the metrics. */
export type ReconcileKind = 'applied' | 'drift-repaired' | 'error' | 'unchanged';

export interface ReconcileEvent extends ReconcileOutcome {
  readonly at: string;
  readonly kind: ReconcileKind;
}

export interface RouterReconcileState {
  readonly routerId: string;
  readonly last: ReconcileEvent;
  /** Epoch milliseconds of the last pass that ended without error, or null if none has. */
  readonly lastSuccessAt: number | null;
  readonly passes: number;
  readonly errors: number;
  readonly driftRepairs: number;
}

export function kindOf(outcome: ReconcileOutcome): ReconcileKind {
  if (outcome.error !== undefined) return 'error';
  if (!outcome.changed) return 'unchanged';
  return outcome.drifted ? 'drift-repaired' : 'applied';
}

export interface ReconcileHistoryOptions {
  /** How many notable events (applies, drift repairs, errors) to keep for the dashboard. Default 50. */
  readonly keep?: number;
  readonly now?: () => number;
}

/**
 * Remembers what the agent did, from its 'reconciled' events: per router the last pass, totals, and the
 * last successful apply; and a short list of recent notable events. Readiness and metrics read it.
 */
export class ReconcileHistory {
  private readonly routers = new Map<string, RouterReconcileState>();
  private readonly recent: ReconcileEvent[] = [];
  private readonly listeners: ((event: ReconcileEvent) => void)[] = [];
  private readonly keep: number;
  private readonly now: () => number;

  constructor(options: ReconcileHistoryOptions = {}) {
    this.keep = options.keep ?? 50;
    this.now = options.now ?? Date.now;
  }

  /** Follows an Agent (or anything that emits 'reconciled' with a ReconcileOutcome). */
  follow(agent: EventEmitter): this {
    agent.on('reconciled', (outcome: ReconcileOutcome) => this.record(outcome));
    return this;
  }

  onEvent(listener: (event: ReconcileEvent) => void): void {
    this.listeners.push(listener);
  }

  record(outcome: ReconcileOutcome): ReconcileEvent {
    const now = this.now();
    const event: ReconcileEvent = { ...outcome, at: new Date(now).toISOString(), kind: kindOf(outcome) };
    const before = this.routers.get(outcome.routerId);
    this.routers.set(outcome.routerId, {
      routerId: outcome.routerId,
      last: event,
      lastSuccessAt: event.kind === 'error' ? (before?.lastSuccessAt ?? null) : now,
      passes: (before?.passes ?? 0) + 1,
      errors: (before?.errors ?? 0) + (event.kind === 'error' ? 1 : 0),
      driftRepairs: (before?.driftRepairs ?? 0) + (event.kind === 'drift-repaired' ? 1 : 0),
    });
    if (event.kind !== 'unchanged') {
      // The per-change latencies (one per floating IP of a batch) are for the metrics listener, not the dashboard.
      const { changeLatenciesMs: _latencies, ...kept } = event;
      this.recent.unshift(kept);
      this.recent.length = Math.min(this.recent.length, this.keep);
    }
    for (const listener of this.listeners) listener(event);
    return event;
  }

  router(routerId: string): RouterReconcileState | undefined {
    return this.routers.get(routerId);
  }

  all(): RouterReconcileState[] {
    return [...this.routers.values()];
  }

  /** Newest first. */
  events(): readonly ReconcileEvent[] {
    return this.recent;
  }

  /** Routers among `routerIds` that have not finished a single reconcile pass yet. */
  notYetReconciled(routerIds: readonly string[]): string[] {
    return routerIds.filter((id) => !this.routers.has(id));
  }
}
