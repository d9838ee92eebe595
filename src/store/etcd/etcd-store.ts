import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { ExponentialBackoff, noop, type IBackoff } from 'cockatiel';
import type * as Etcd3Module from 'etcd3';
import type { Etcd3, ICompare, IRequestOp, Watcher } from 'etcd3';
import {
  applyStatusPatch,
  SfipError,
  type FloatingIp,
  type FloatingIpStatusPatch,
  type Tx,
  type View,
} from '../../model/index.js';
import type {
  AgentRegistration,
  AgentRegistrationRequest,
  AgentRegistry,
  ChangeBatch,
  Store,
} from '../store.js';
import { registerAgent } from './agent-lease.js';
import { ChangeLog } from './change-log.js';
import { EtcdTokenStore } from './etcd-token-store.js';
import type { TokenStore } from '../token-store.js';
import { KeyLayout } from './keys.js';
import { Mirror, type MirrorEvent } from './mirror.js';
import { OptimisticTx, type Guard, type Write } from './optimistic-tx.js';
import { mirrorView } from './mirror-view.js';
import type { EtcdSpec } from './store-spec.js';

/** What the store logs: connection trouble and recoveries. pino's Logger fits. */
export interface StoreLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface EtcdStoreOptions extends EtcdSpec {
  readonly log?: StoreLog;
  /** How long one etcd call may take before it counts as failed. Default 5 s. */
  readonly callTimeoutMs?: number;
  /** Give up connecting at start after this long; undefined retries for ever (a daemon waits for its store). */
  readonly connectTimeoutMs?: number;
  /** Transaction attempts under contention before the caller is told to retry. Default 30. */
  readonly maxAttempts?: number;
}

const PAGE = 1000;

/**
 * The etcd client (and its gRPC and protobuf stack) is loaded when an etcd store is opened, not at import: every
 * daemon imports this module, and loading it cost 150 ms of CPU (300 ms on a loaded machine) at the start of
 * one that uses SQLite, before its first reconcile (issue 15: converge and restart).
 */
function etcd3(): typeof Etcd3Module {
  return createRequire(import.meta.url)('etcd3') as typeof Etcd3Module;
}
const silent: StoreLog = { info: () => undefined, warn: () => undefined };

/**
 * The store for many nodes and API replicas: state lives in etcd; each process keeps a mirror of it, current
 * through one watch, and runs model functions against the mirror. A write commits as one etcd transaction that
 * compares the mod revision of everything the function read (and of every index key it changes), so two
 * processes can never both take the same address or name: the second one's compares fail, and it runs its
 * function again on the newer mirror. Writes of one process are queued, so they never conflict with each other.
 */
export class EtcdStore implements Store, AgentRegistry {
  readonly description: string;
  readonly client: Etcd3;
  readonly layout: KeyLayout;
  readonly tokens: TokenStore;
  private mirror: Mirror;
  private log: ChangeLog = new ChangeLog(0);
  private readonly events = new EventEmitter();
  private watcher: Watcher | undefined;
  private readyPromise: Promise<void> | undefined;
  private writeQueue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private resyncing: Promise<void> | undefined;

  constructor(private readonly options: EtcdStoreOptions) {
    this.description = `etcd://${options.endpoints.map((e) => e.replace(/^http:\/\//, '')).join(',')}${options.prefix}`;
    this.layout = new KeyLayout(options.prefix);
    this.mirror = new Mirror(this.layout);
    const timeout = options.callTimeoutMs ?? 5000;
    this.client = new (etcd3().Etcd3)({
      hosts: [...options.endpoints],
      // The client's default policies retry calls (a retried transaction could apply twice) and open a circuit
      // breaker for 5 s after three failures (which would delay recovery after an etcd restart). sfip retries
      // itself, knowing which calls are safe to repeat.
      faultHandling: {
        host: () => noop,
        global: noop,
        // The watch manager calls next() on this to start each series of delays (its typing says otherwise).
        watchBackoff: new ExponentialBackoff({
          initialDelay: 100,
          maxDelay: 1000,
        }) as unknown as IBackoff<unknown>,
      },
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeout }),
      // gRPC waits 1 s, then up to 2 min, before reconnecting; a node agent must be back within its lease TTL.
      grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 },
    });
    this.events.setMaxListeners(0);
    this.tokens = new EtcdTokenStore(this.client, this.layout);
  }

  private get logger(): StoreLog {
    return this.options.log ?? silent;
  }

  /**
   * Loads the mirror and starts the watch. Retries an unreachable etcd with backoff (100 ms doubling to 5 s),
   * logging each failure, until it answers or `connectTimeoutMs` passes. Every other method waits for this.
   */
  ready(): Promise<void> {
    this.readyPromise ??= this.connect();
    return this.readyPromise;
  }

  async read<T>(fn: (view: View) => T): Promise<T> {
    await this.ready();
    return fn(mirrorView(this.mirror));
  }

  update<T>(fn: (tx: Tx) => T): Promise<T> {
    return this.enqueue(() =>
      this.commit((mirror) => {
        const tx = new OptimisticTx(mirror);
        const result = fn(tx);
        return { result, ...(tx.wrote ? tx.commit() : { guards: [], writes: [] }) };
      }),
    );
  }

  /**
   * One etcd transaction: each rewritten resource is compared on its mod revision (as `update` does), no index
   * stamp is touched (a status is no index key), and the status stamp is written with them, which marks every
   * change of that revision status-only on the feed of every process watching.
   */
  updateStatuses(
    kind: 'floatingip',
    patches: readonly FloatingIpStatusPatch[],
    updatedAt: string,
  ): Promise<number> {
    return this.enqueue(() =>
      this.commit((mirror) => {
        const { layout } = mirror;
        const rewritten = new Map<string, FloatingIp>();
        for (const patch of patches) {
          const current = rewritten.get(patch.id) ?? mirror.get(kind, patch.id);
          const entity = current && applyStatusPatch(current, patch, updatedAt);
          if (entity) rewritten.set(patch.id, entity);
        }
        if (rewritten.size === 0) return { result: 0, guards: [], writes: [] };
        const guards: Guard[] = [];
        const writes: Write[] = [{ put: layout.statusStamp(), value: String(rewritten.size) }];
        for (const [id, entity] of rewritten) {
          const key = layout.resource(kind, id);
          guards.push({ key, result: 'Equal', modRevision: mirror.modOf(key) });
          writes.push({ put: key, value: JSON.stringify(entity) });
        }
        return { result: rewritten.size, guards, writes };
      }),
    );
  }

  /** Writes of one process go one at a time, so that they never conflict with each other. */
  private enqueue<T>(write: () => Promise<T>): Promise<T> {
    const run = this.writeQueue.then(write);
    this.writeQueue = run.catch(() => undefined);
    return run;
  }

  async changesSince(seq: number, limit = 10_000): Promise<ChangeBatch> {
    await this.ready();
    return this.log.since(seq, this.mirror.revision, limit);
  }

  /** Called after the mirror takes in changes, whoever made them (this process or another). */
  onChange(listener: () => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.events.emit('progress');
    await this.watcher?.cancel().catch(() => undefined);
    this.client.close();
  }

  /**
   * Registers a live agent for a node, held by a lease. Refuses (409 AgentHostInUse) while another live agent
   * holds the node.
   */
  async registerAgent(request: AgentRegistrationRequest): Promise<AgentRegistration> {
    await this.ready();
    const { registration, revision } = await registerAgent(this.client, this.layout, request);
    // Let the caller's next read see its own record.
    await this.waitForRevision(revision, 5000);
    return registration;
  }

  /** The mirror's revision: everything under the prefix up to it has been seen. */
  get revision(): number {
    return this.mirror.revision;
  }

  /**
   * Plans against the mirror and commits the plan's writes if its guards still hold; otherwise waits for the
   * newer state and plans again. A plan without writes commits nothing.
   */
  private async commit<T>(
    plan: (mirror: Mirror) => { result: T; guards: Guard[]; writes: Write[] },
  ): Promise<T> {
    await this.ready();
    const attempts = this.options.maxAttempts ?? 30;
    for (let attempt = 1; ; attempt++) {
      const mirror = this.mirror;
      const base = mirror.revision;
      const { result, guards, writes } = plan(mirror);
      if (writes.length === 0) return result;
      let response;
      try {
        response = await this.client.kv.txn({
          compare: guards.map(toCompare),
          success: writes.map(toRequest),
          failure: [],
        });
      } catch (error) {
        throw this.translate(error, guards.length, writes.length);
      }
      if (response.succeeded) {
        await this.waitForRevision(Number(response.header.revision), 5000);
        return result;
      }
      if (attempt >= attempts) {
        throw new SfipError(
          'ServiceUnavailable',
          503,
          `The change kept conflicting with concurrent changes in ${this.description} (${attempts} attempts); retry.`,
        );
      }
      // Someone changed what this function read: wait until the mirror has their change, then run it again.
      await this.waitForRevision(base + 1, 1000);
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, attempt * 5)));
    }
  }

  private translate(error: unknown, compares: number, operations: number): Error {
    const message = (error as Error).message ?? String(error);
    if (/too many operations in txn request/.test(message)) {
      return new SfipError(
        'ServiceUnavailable',
        503,
        `etcd refused a transaction of ${compares} compares and ${operations} writes: raise etcd's --max-txn-ops (default 128). Nothing was changed.`,
      );
    }
    return new SfipError(
      'ServiceUnavailable',
      503,
      `etcd at ${this.description} did not confirm the change (${message}); it may not have been applied. Retry.`,
    );
  }

  private async connect(): Promise<void> {
    const started = Date.now();
    let delay = 100;
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw new Error(`The store ${this.description} was closed.`);
      try {
        const { mirror, revision } = await this.load();
        this.mirror = mirror;
        this.log = new ChangeLog(revision);
        this.startWatch(revision);
        if (attempt > 1) this.logger.info({ store: this.description }, 'connected to etcd');
        return;
      } catch (error) {
        const reason = (error as Error).message;
        const limit = this.options.connectTimeoutMs;
        if (limit !== undefined && Date.now() - started + delay > limit) {
          throw new SfipError(
            'ServiceUnavailable',
            503,
            `Cannot reach etcd at ${this.description} after ${attempt} attempts over ${Math.round((Date.now() - started) / 1000)} s: ${reason}. Check that etcd runs and the address is right.`,
          );
        }
        this.logger.warn(
          { store: this.description, attempt, retryInMs: delay, err: reason },
          `cannot reach etcd at ${this.description}; retrying in ${delay} ms`,
        );
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(5000, delay * 2);
      }
    }
  }

  /** Reads everything under the prefix at one revision, in pages. */
  private async load(): Promise<{ mirror: Mirror; revision: number }> {
    const mirror = new Mirror(this.layout);
    const [start, end] = this.layout.all();
    let key = Buffer.from(start);
    let revision = 0;
    for (;;) {
      const page = await this.client.kv.range({
        key,
        range_end: Buffer.from(end),
        limit: PAGE,
        ...(revision > 0 && { revision }),
      });
      if (revision === 0) revision = Number(page.header.revision);
      for (const kv of page.kvs) {
        if (!this.layout.mirrored(kv.key.toString())) continue;
        mirror.apply({
          type: 'put',
          key: kv.key.toString(),
          value: kv.value.toString(),
          modRevision: Number(kv.mod_revision),
        });
      }
      if (!page.more || page.kvs.length === 0) break;
      key = Buffer.concat([page.kvs[page.kvs.length - 1]!.key, Buffer.from([0])]);
    }
    mirror.revision = revision;
    return { mirror, revision };
  }

  /**
   * Follows every change under the prefix after `revision`. The client resumes a dropped watch from the last
   * revision it saw, so a disconnect loses nothing; if etcd has compacted that revision away, the watch is
   * cancelled and `resync` re-lists instead.
   */
  private startWatch(revision: number): void {
    const [start, end] = this.layout.all();
    const watcher = this.client
      .watch()
      .inRange({ start: Buffer.from(start), end: Buffer.from(end) })
      .startRevision(String(revision + 1))
      .watcher();
    this.watcher = watcher;
    watcher.on('data', (res) => {
      if (this.watcher !== watcher) return;
      // The watch covers the whole prefix, tokens included (they sit between r/ and x/). A response that holds
      // only token writes is not the mirror's: taking its revision would move the change feed's `latest`
      // without a change, at whatever moment the watch happened to deliver it.
      const events = res.events.filter((ev) => this.layout.mirrored(ev.kv.key.toString()));
      if (res.events.length > 0 && events.length === 0) return;
      let changed = false;
      // The revisions that wrote the status stamp: their resource changes are status-only (updateStatuses).
      const statusOnly = new Set(
        events
          .filter((ev) => ev.kv.key.toString() === this.layout.statusStamp())
          .map((ev) => Number(ev.kv.mod_revision)),
      );
      for (const ev of events) {
        const event: MirrorEvent = {
          type: ev.type === 'Put' ? 'put' : 'delete',
          key: ev.kv.key.toString(),
          value: ev.kv.value.toString(),
          modRevision: Number(ev.kv.mod_revision),
        };
        const change = this.mirror.apply(event);
        if (change) {
          this.log.append(
            statusOnly.has(change.seq) && change.op === 'put' ? { ...change, statusOnly: true } : change,
          );
          changed = true;
        }
      }
      this.mirror.revision = Math.max(this.mirror.revision, Number(res.header.revision));
      this.events.emit('progress');
      if (changed) this.events.emit('change');
    });
    watcher.on('disconnected', (err) => {
      if (this.watcher === watcher && !this.closed)
        this.logger.warn({ store: this.description, err: err.message }, 'lost the etcd watch; resuming');
    });
    watcher.on('connected', () => {
      if (this.watcher === watcher && !this.closed)
        this.logger.info({ store: this.description }, 'etcd watch established');
    });
    watcher.on('error', (err) => {
      if (this.watcher !== watcher || this.closed) return;
      this.logger.warn({ store: this.description, err: err.message }, 'the etcd watch ended; re-listing');
      void this.resync();
    });
  }

  /**
   * Re-lists everything and turns the difference with the mirror into changes (all at the listing's
   * revision), then watches on from there: nothing that happened while the watch was gone is lost, and
   * nothing already seen is reported again.
   */
  private resync(): Promise<void> {
    this.resyncing ??= (async () => {
      let delay = 100;
      while (!this.closed) {
        try {
          // The ended watcher is already gone from the client (cancelling it again would wait for ever).
          this.watcher = undefined;
          const { mirror, revision } = await this.load();
          const changes = diffMirrors(this.mirror, mirror, revision);
          this.mirror = mirror;
          for (const change of changes) this.log.append(change);
          this.startWatch(revision);
          this.events.emit('progress');
          if (changes.length > 0) this.events.emit('change');
          this.logger.info({ store: this.description, revision, changes: changes.length }, 're-listed etcd');
          return;
        } catch (error) {
          this.logger.warn(
            { store: this.description, err: (error as Error).message },
            'cannot re-list etcd; retrying',
          );
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(5000, delay * 2);
        }
      }
    })().finally(() => (this.resyncing = undefined));
    return this.resyncing;
  }

  /** Resolves once the mirror has reached `revision`, or after `timeoutMs` (the caller then goes on regardless). */
  private waitForRevision(revision: number, timeoutMs: number): Promise<void> {
    if (this.mirror.revision >= revision || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.events.off('progress', check);
        resolve();
      };
      const check = () => {
        if (this.mirror.revision >= revision || this.closed) done();
      };
      const timer = setTimeout(done, timeoutMs);
      this.events.on('progress', check);
    });
  }
}

function toCompare(guard: Guard): ICompare {
  return {
    key: Buffer.from(guard.key),
    ...(guard.rangeEnd !== undefined && { range_end: Buffer.from(guard.rangeEnd) }),
    target: 'Mod',
    result: guard.result,
    mod_revision: String(guard.modRevision),
  };
}

function toRequest(write: Write): IRequestOp {
  return 'put' in write
    ? { request_put: { key: Buffer.from(write.put), value: Buffer.from(write.value) } }
    : { request_delete_range: { key: Buffer.from(write.del) } };
}

/** The resource changes that turn `before` into `after`, all stamped with the listing's revision. */
export function diffMirrors(before: Mirror, after: Mirror, revision: number) {
  const changes = [];
  const keys = new Set([...before.keys(), ...after.keys()]);
  for (const key of [...keys].sort()) {
    const ref = after.layout.parseResource(key);
    if (!ref) continue;
    const was = before.modOf(key);
    const now = after.modOf(key);
    if (was === now) continue;
    changes.push({
      seq: revision,
      kind: ref.kind,
      id: ref.id,
      op: now === 0 ? ('delete' as const) : ('put' as const),
    });
  }
  return changes;
}
