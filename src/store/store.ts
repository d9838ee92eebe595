import type { Agent, Kind, Tx, View } from '../model/index.js';

/** One committed write, in commit order. The agent follows these to know which routers to reconcile. */
export interface Change {
  readonly seq: number;
  readonly kind: Kind;
  readonly id: string;
  readonly op: 'put' | 'delete';
}

export interface ChangeBatch {
  readonly changes: readonly Change[];
  /** The newest sequence number the store has committed. */
  readonly latest: number;
  /** True when `since` is older than the retained history: the reader must re-list everything. */
  readonly truncated: boolean;
}

/**
 * Where desired state lives. Implementations (SQLite, etcd) share one contract test suite.
 * `fn` must be synchronous and free of I/O: it is the model's pure logic, and may be run more than once when a
 * store retries an optimistic transaction.
 */
export interface Store {
  readonly description: string;
  read<T>(fn: (view: View) => T): Promise<T>;
  update<T>(fn: (tx: Tx) => T): Promise<T>;
  changesSince(seq: number, limit?: number): Promise<ChangeBatch>;
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
