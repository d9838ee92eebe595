import type { Agent, FloatingIpStatusPatch, Kind, Tx, View } from '../model/index.js';
import type { TokenStore } from './token-store.js';

/** One committed write, in commit order. The agent follows these to know which routers to reconcile. */
export interface Change {
  readonly seq: number;
  readonly kind: Kind;
  readonly id: string;
  readonly op: 'put' | 'delete';
  /**
   * Set on a write of `updateStatuses`: only the resource's status moved. Readers that act on what a resource
   * maps (the agent) skip it without reading the resource; readers of statuses (metrics, dashboard) do not.
   */
  readonly statusOnly?: true;
}

export interface ChangeBatch {
  readonly changes: readonly Change[];
  /** The newest sequence number the store has committed. */
  readonly latest: number;
  /** True when `since` is older than the retained history: the reader must re-list everything. */
  readonly truncated: boolean;
  /**
   * With `withoutStatusOnly`, where the store left off: every change up to here that is not status-only is in
   * `changes`, so the reader goes on after it (it may lie past the last change returned, and equal `latest`).
   * Absent: the reader goes on after the last change returned.
   */
  readonly through?: number;
}

export interface ChangesOptions {
  /**
   * Leave status-only changes out (a store may still return some): for a reader that skips them anyway (the
   * agent), which a converge's 100,000 status changes otherwise cost 0.27 s of CPU just to pass over.
   */
  readonly withoutStatusOnly?: boolean;
}

/**
 * Where desired state lives. Implementations (SQLite, etcd) share one contract test suite.
 * `fn` must be synchronous and free of I/O: it is the model's pure logic, and may be run more than once when a
 * store retries an optimistic transaction.
 */
export interface Store {
  readonly description: string;
  /** API tokens, kept beside the resources so that one state directory holds everything. */
  readonly tokens: TokenStore;
  read<T>(fn: (view: View) => T): Promise<T>;
  update<T>(fn: (tx: Tx) => T): Promise<T>;
  /**
   * Applies the agent's status reports (100,000 at a converge) in one transaction: each patch by the model's rule
   * (applyStatusPatch: skipped when the floating IP is missing, moved on or has the status already), every document
   * written getting `updatedAt`. Only status fields change: the store keeps every index key as it is and marks the
   * changes `statusOnly` on the feed. An id given twice sees its first rewrite. Resolves to how many were written.
   */
  updateStatuses(
    kind: 'floatingip',
    patches: readonly FloatingIpStatusPatch[],
    updatedAt: string,
  ): Promise<number>;
  changesSince(seq: number, limit?: number, options?: ChangesOptions): Promise<ChangeBatch>;
  /** Called after every local commit, so an in-process agent reacts without polling delay. */
  onChange(listener: () => void): () => void;
  close(): Promise<void>;
}

/** A live agent's claim on its node name, held by a lease in the store. */
export interface AgentRegistration {
  readonly agent: Agent;
  readonly leaseId: string;
  /** The TTL the store granted, in seconds. */
  readonly ttlSeconds: number;
  /**
   * `performance.now()` time before which the store cannot have let the lease expire: the moment the last
   * acknowledged renewal was *sent*, plus the TTL. Anything that must stop before another node may take over
   * (announcing floating IPs) must stop before this.
   */
  validUntil(): number;
  /** `renewed` (validUntil: number), `unreachable` (error: Error), `lost` (reason: string). */
  on(event: 'renewed', listener: (validUntil: number) => void): this;
  on(event: 'unreachable', listener: (error: Error) => void): this;
  on(event: 'lost', listener: (reason: string) => void): this;
  /** Stops renewing; the lease runs out by itself (so a restarted agent can adopt it meanwhile). */
  stop(): void;
  /** Revokes the lease now: the agent's record disappears and its routers move at once. */
  revoke(): Promise<void>;
}

export interface AgentRegistrationRequest {
  readonly host: string;
  readonly ttlSeconds: number;
  /** The lease of this agent's previous run: if it still holds the node, it is taken over (hitless restart). */
  readonly adoptLeaseId?: string;
  readonly now: string;
}

/** Stores that can hold agents' leases (etcd). */
export interface AgentRegistry {
  registerAgent(request: AgentRegistrationRequest): Promise<AgentRegistration>;
}

export function isAgentRegistry(store: Store): store is Store & AgentRegistry {
  return typeof (store as Partial<AgentRegistry>).registerAgent === 'function';
}
