import type {
  BackendPlan,
  BackendState,
  CapabilityCheck,
  Dataplane,
  DesiredRouter,
  FloatingIpCounters,
  FloatingMapping,
  GatewayAddresses,
  MappingDelta,
  RouterTarget,
} from '../types.js';
import { limitsKey } from '../types.js';
import { mappingsState } from '../router-state.js';

interface FakeRouterState {
  structure: string;
  inbound: Map<string, string>;
  outbound: Map<string, string>;
  addresses: Set<string>;
  /** floating -> limitsKey, as a backend that enforces QoS would hold them. */
  limits: Map<string, string>;
}

interface FakeBatch {
  structure: string | null;
  inbound: [string, string][];
  removed: FloatingMapping[];
  /** floating -> limitsKey of every desired mapping with limits (a delta: of the added ones). */
  limits: [string, string][];
  /** Only `inbound` is set and `removed` deleted; the rest stays (a delta plan). */
  delta?: boolean;
}

const key = (t: RouterTarget) => `${t.namespace ?? ''}/${t.routerId}`;
const structureOf = (d: DesiredRouter) =>
  JSON.stringify([d.namespace, d.gatewayDevice, d.gatewayIp, d.internalCidrs]);

/**
 * An in-memory dataplane for fast unit tests of the agent. It plans like a real backend, keeps what was
 * "applied", counts applies, and can be told to fail or to drift.
 */
export class FakeDataplane implements Dataplane {
  readonly name = 'fake' as const;
  readonly withoutKernel: boolean = true;
  /** Unset: the fake records limits like an enforcing backend; tests set it to act as one that refuses QoS. */
  qosRefusal?: string;
  readonly routers = new Map<string, FakeRouterState>();
  readonly applied: BackendPlan[] = [];
  /** Every change of floating addresses the router layer made, in order. */
  readonly addressChanges: { add: string[]; remove: string[] }[] = [];
  /** When set, the next apply throws this (the next `failApplies` applies, when that is more than 1). */
  failNextApply: Error | undefined;
  failApplies = 1;
  missingNamespaces = new Set<string>();
  /** Traffic per router and floating address, as tests pretend it flowed; see addTraffic. */
  readonly traffic = new Map<string, Map<string, FloatingIpCounters>>();
  /** How many times counters() was called: tests check that reads are cached and batched. */
  counterReads = 0;
  /** How many times read() was called: tests check that deltas need no read. */
  reads = 0;

  async check(): Promise<CapabilityCheck[]> {
    return [{ name: 'fake', ok: true, detail: 'in memory' }];
  }

  /** The router layer keeps a router's floating addresses here (in its state), as the kernel would on a device. */
  readonly gatewayAddresses: GatewayAddresses = {
    read: async (target) => {
      this.checkNamespace(target);
      return new Set(this.routers.get(key(target))?.addresses ?? []);
    },
    change: async (target, add, remove) => {
      this.checkNamespace(target);
      this.addressChanges.push({ add: [...add], remove: [...remove] });
      const state = this.stateOf(target);
      for (const ip of remove) state.addresses.delete(ip);
      for (const ip of add) state.addresses.add(ip);
      this.dropIfEmpty(target);
    },
  };

  async read(target: RouterTarget, desired?: DesiredRouter): Promise<BackendState> {
    this.reads++;
    const snapshot = this.snapshot(target, desired);
    // A slow kernel: the read sees the state when it started, and answers once the gate opens.
    if (this.readGate) await this.readGate;
    return snapshot;
  }

  /** While set, read() waits for it (tests of what happens during a long kernel read). */
  readGate: Promise<void> | undefined;
  /** While set, apply() waits for it; `applying` counts the applies waiting. */
  applyGate: Promise<void> | undefined;
  applying = 0;

  private checkNamespace(target: RouterTarget): void {
    if (target.namespace && this.missingNamespaces.has(target.namespace)) {
      throw new Error(`network namespace ${target.namespace} does not exist`);
    }
  }

  private stateOf(target: RouterTarget): FakeRouterState {
    const k = key(target);
    const state = this.routers.get(k) ?? {
      structure: '',
      inbound: new Map<string, string>(),
      outbound: new Map<string, string>(),
      addresses: new Set<string>(),
      limits: new Map<string, string>(),
    };
    this.routers.set(k, state);
    return state;
  }

  private snapshot(target: RouterTarget, desired?: DesiredRouter): BackendState {
    this.checkNamespace(target);
    const state = this.routers.get(key(target));
    if (!state || state.structure === '') {
      return {
        present: false,
        structureMatches: false,
        inbound: new Map(),
        outbound: new Map(),
        limits: new Map(),
      };
    }
    return {
      present: true,
      structureMatches: desired !== undefined && state.structure === structureOf(desired),
      inbound: new Map(state.inbound),
      outbound: new Map(state.outbound),
      limits: new Map(state.limits),
    };
  }

  plan(desired: DesiredRouter, actual: BackendState): BackendPlan {
    const want = new Map<string, string>(desired.mappings.map((m) => [m.floatingIp, m.fixedIp]));
    const added = desired.mappings.filter((m) => actual.inbound.get(m.floatingIp) !== m.fixedIp);
    const removed = [...actual.inbound]
      .filter(([fip, fixed]) => want.get(fip) !== fixed)
      .map(([floatingIp, fixedIp]) => ({ floatingIp, fixedIp }) as FloatingMapping);
    const rebuild = !actual.present || !actual.structureMatches;
    const limits = desired.mappings.flatMap((m): [string, string][] =>
      m.limits ? [[m.floatingIp, limitsKey(m.limits)]] : [],
    );
    const had = actual.limits ?? new Map<string, string>();
    const limitsChanged =
      limits.length !== had.size || limits.some(([fip, limitKey]) => had.get(fip) !== limitKey);
    const batch: FakeBatch = {
      structure: rebuild ? structureOf(desired) : null,
      inbound: [...want],
      removed,
      limits,
    };
    const changed = rebuild || added.length > 0 || removed.length > 0 || limitsChanged;
    return {
      target: desired,
      batch: changed ? JSON.stringify(batch) : null,
      rebuild,
      added,
      removed,
    };
  }

  planDelta(delta: MappingDelta): BackendPlan {
    const plan = this.plan(delta.desired, delta.before);
    if (plan.batch === null) return plan;
    return { ...plan, batch: JSON.stringify({ ...(JSON.parse(plan.batch) as FakeBatch), delta: true }) };
  }

  /** The fake holds exactly what it was told. */
  stateAfterRebuild(desired: DesiredRouter): BackendState {
    return {
      present: true,
      structureMatches: true,
      ...mappingsState(desired.mappings, { limits: new Map() }),
    };
  }

  async apply(plan: BackendPlan): Promise<void> {
    if (this.applyGate) {
      // A slow kernel: tests count how many applies wait at once.
      this.applying++;
      await this.applyGate;
      this.applying--;
    }
    if (this.failNextApply) {
      const error = this.failNextApply;
      if (--this.failApplies <= 0) {
        this.failNextApply = undefined;
        this.failApplies = 1;
      }
      throw error;
    }
    this.applied.push(plan);
    const state = this.stateOf(plan.target);
    if (plan.batch !== null) {
      const batch = JSON.parse(plan.batch) as FakeBatch;
      if (batch.structure !== null) state.structure = batch.structure;
      if (batch.delta) {
        // As nft refuses to delete an element that is not there, so does the fake.
        const missing = batch.removed.find((m) => state.inbound.get(m.floatingIp) !== m.fixedIp);
        if (missing) throw new Error(`fake: No such file or directory: ${missing.floatingIp}`);
        for (const m of batch.removed) {
          state.inbound.delete(m.floatingIp);
          state.outbound.delete(m.fixedIp);
          state.limits.delete(m.floatingIp);
        }
        for (const [f, x] of batch.inbound) {
          state.inbound.set(f, x);
          state.outbound.set(x, f);
          state.limits.delete(f);
        }
        for (const [f, limitKey] of batch.limits) state.limits.set(f, limitKey);
      } else {
        state.inbound = new Map(batch.inbound);
        state.outbound = new Map(batch.inbound.map(([f, x]) => [x, f]));
        state.limits = new Map(batch.limits);
      }
    }
  }

  /** Removes the translation; the router layer then removes the addresses, and the router's entry goes with them. */
  async remove(target: RouterTarget): Promise<void> {
    const state = this.routers.get(key(target));
    if (!state) return;
    Object.assign(state, { structure: '', inbound: new Map(), outbound: new Map(), limits: new Map() });
    this.dropIfEmpty(target);
  }

  /** A router with neither translation nor addresses is gone, as it would be from a kernel. */
  private dropIfEmpty(target: RouterTarget): void {
    const state = this.routers.get(key(target));
    if (state && state.structure === '' && state.addresses.size === 0) this.routers.delete(key(target));
  }

  /** Pretends packets flowed through a floating IP of a router. */
  addTraffic(
    target: RouterTarget,
    floatingIp: string,
    packetsIn: number,
    packetsOut: number,
    size = 100,
  ): void {
    const byAddress = this.traffic.get(key(target)) ?? new Map<string, FloatingIpCounters>();
    const c = byAddress.get(floatingIp) ?? {
      floatingIp,
      packetsIn: 0,
      bytesIn: 0,
      packetsOut: 0,
      bytesOut: 0,
    };
    byAddress.set(floatingIp, {
      floatingIp,
      packetsIn: c.packetsIn + packetsIn,
      bytesIn: c.bytesIn + packetsIn * size,
      packetsOut: c.packetsOut + packetsOut,
      bytesOut: c.bytesOut + packetsOut * size,
    });
    this.traffic.set(key(target), byAddress);
  }

  async counters(target: RouterTarget): Promise<FloatingIpCounters[]> {
    this.counterReads++;
    const state = this.routers.get(key(target));
    const traffic = this.traffic.get(key(target));
    return [...(state?.inbound.keys() ?? [])]
      .sort()
      .map(
        (floatingIp) =>
          traffic?.get(floatingIp) ?? { floatingIp, packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0 },
      );
  }

  async owned(namespace: string | null): Promise<string[]> {
    return [...this.routers.keys()]
      .filter((k) => k.startsWith(`${namespace ?? ''}/`))
      .map((k) => k.slice(k.indexOf('/') + 1));
  }
}
