import type { Runner } from '../exec/run.js';
import type { IPv4 } from '../model/index.js';
import { applyFailpoint } from './common/apply-failpoint.js';
import { LoopBudget } from '../metrics/slices.js';
import { deleteStaleConntrack, staleAddresses, type StaleAddresses } from './common/conntrack.js';
import type { GarpQueue } from './common/garp-queue.js';
import { kernelGatewayAddresses } from './common/gateway-addresses.js';
import { sharedChannels, type NetnsChannels } from './common/netns-channels.js';
import { sharedSetDump } from './common/set-dump-channel.js';
import { applyChangesInPlace, mappingsStateSliced, narrowedTo, type MappingChange } from './router-state.js';
import {
  floatingAddresses,
  type ActualRouter,
  type BackendState,
  type Dataplane,
  type DesiredRouter,
  type GatewayAddresses,
  type Plan,
  type RouterTarget,
} from './types.js';

/** The chores around every backend's batch, and where they go. */
export interface RouterChores {
  /** Where new floating addresses wait for their gratuitous ARP (null: none is sent). GARP never delays an apply. */
  readonly garp: GarpQueue | null;
  /** Delete the conntrack entries of changed mappings (shared SNAT may have tracked them before). */
  readonly conntrackCleanup: boolean;
  /** Long-lived ip processes per namespace, for the addresses of small changes. Default: the shared ones. */
  readonly channels?: NetnsChannels | null;
  /** How kernel tools run (tests record them). Default: src/exec. */
  readonly run?: Runner;
  /**
   * Put the floating addresses on the gateway device (default true). False: translation only, and any floating
   * address found there is removed: a routed hot standby, which the peer reaches by a BGP route to this node's
   * next hop, so nobody needs it to answer ARP for a floating IP (and it must not: the owner does).
   */
  readonly floatingAddresses?: boolean;
  /**
   * After a whole-router apply, start the namespace's ip channel if it is not running (the agent): the router's
   * first delta would otherwise start it, and without its /proc/<pid>/net start conntrack processes too, each
   * spawn holding the event loop until the child execs (tens of ms on a loaded machine, issue 15's tail).
   */
  readonly warmChannels?: boolean;
}

/** For tools and tests that drive one router by hand: no gratuitous ARP, no conntrack cleanup. */
export const WITHOUT_CHORES: RouterChores = { garp: null, conntrackCleanup: false };

/** What the router layer knows the kernel holds for one router: a read of it, kept current by every apply. */
interface Record<State extends BackendState> {
  /** The desired router the record was made for; any change of structure makes it untrusted. */
  readonly structure: DesiredRouter;
  readonly state: State & ActualRouter;
  /**
   * The record may stand in for a read when planning. When false, only its mappings and addresses are known
   * (after a rebuild of generations or u32 trees whose details only a read shows): good enough to tell drift,
   * not to plan from.
   */
  readonly trusted: boolean;
}

/**
 * One router's dataplane, whichever backend translates: the backend's batch first, then the floating addresses,
 * then conntrack cleanup, then gratuitous ARP. That order ("translation first, addresses second") lives here
 * only: a new floating IP is translated before anyone can learn its address by ARP, and a removed one stops
 * being translated at its batch's commit, its address right after.
 *
 * It also keeps, per router, the record of what the kernel holds (as Calico Felix's Table keeps its cache): the
 * backend's own last read, brought forward by each apply, so changes between full reads are planned without
 * reading 100,000 map elements back. The record is dropped on any failure, on a change of structure, and after
 * a rebuild the backend cannot describe without a read.
 */
export class RouterDataplane<State extends BackendState = BackendState> {
  private readonly records = new Map<string, Record<State>>();
  private readonly addresses: GatewayAddresses;
  private readonly channels: NetnsChannels | null;

  constructor(
    readonly backend: Dataplane<State>,
    private readonly chores: RouterChores,
  ) {
    this.channels = chores.channels === undefined ? sharedChannels : chores.channels;
    this.addresses = backend.gatewayAddresses ?? kernelGatewayAddresses(this.channels, chores.run);
  }

  /** The recorded state of a router, when one is trusted for this desired structure. */
  recorded(desired: DesiredRouter): (State & ActualRouter) | undefined {
    const record = this.records.get(desired.routerId);
    return record?.trusted && sameStructure(record.structure, desired) ? record.state : undefined;
  }

  /**
   * Whether the router's record is kept but not trusted only because the backend cannot tell its state after a
   * rebuild without reading it (eBPF's generations and program ids): one read, found as planned, trusts it
   * again. Never for a backend that reads before every plan.
   */
  awaitsReadToTrust(desired: DesiredRouter): boolean {
    const record = this.records.get(desired.routerId);
    return record !== undefined && !record.trusted && !this.backend.readsEveryPass;
  }

  /** Whether a router's change of mappings can be planned from the record (see planDelta). */
  acceptsDelta(structure: DesiredRouter): boolean {
    return this.backend.planDelta !== undefined && this.recorded(structure) !== undefined;
  }

  /**
   * Reads the kernel: the backend's objects and the gateway's floating addresses. The address read checks the
   * namespace and the gateway device too (a missing one fails it with an error naming it, before anything is
   * applied), so backends do not start a process of their own for that; when both reads fail, its error is the
   * one reported.
   */
  async read(desired: DesiredRouter): Promise<State & ActualRouter> {
    // The apply that may follow cleans conntrack through the channel's /proc/<pid>/net: started now, it has
    // settled by then, and the cleanup starts no `conntrack -L` of its own (a process per router at start).
    this.warm(desired);
    const [state, addresses] = await Promise.allSettled([
      this.backend.read(desired, desired),
      this.addresses.read(desired),
    ]);
    if (addresses.status === 'rejected') throw addresses.reason;
    if (state.status === 'rejected') throw state.reason;
    return { ...state.value, addresses: addresses.value };
  }

  /** Whether a read shows something else than what this layer recorded for the router (drift). */
  differsFromRecord(desired: DesiredRouter, actual: ActualRouter): boolean {
    const record = this.records.get(desired.routerId);
    return (
      record !== undefined &&
      sameStructure(record.structure, desired) &&
      !sameKernelState(actual, record.state)
    );
  }

  /** Pure: the backend's batch for `desired` against `actual`, and the address changes. */
  plan(desired: DesiredRouter, actual: State & ActualRouter): Plan {
    const wanted = this.wantedAddresses(desired);
    const wantAddresses = new Set<string>(wanted);
    return {
      ...this.backend.plan(desired, actual),
      addAddresses: wanted.filter((ip) => !actual.addresses.has(ip)),
      removeAddresses: [...actual.addresses].filter((ip) => !wantAddresses.has(ip)).sort(),
    };
  }

  /**
   * Pure: the plan for a few mappings that change on a router whose record is trusted (see acceptsDelta), from
   * the record narrowed to the addresses they touch. `installed`: mappings once the change is applied.
   */
  planDelta(structure: DesiredRouter, change: MappingChange, installed: number): Plan | undefined {
    const recorded = this.recorded(structure);
    if (!recorded || !this.backend.planDelta) return undefined;
    const before = narrowedTo(recorded, change);
    const plan = this.backend.planDelta({
      desired: { ...structure, mappings: change.added },
      before,
      installed,
    });
    // The backend wants a full pass for this change (see Dataplane.planDelta).
    if (!plan) return undefined;
    const addedAddresses = new Set<string>(
      this.chores.floatingAddresses === false ? [] : change.added.map((m) => m.floatingIp),
    );
    const forwarded = new Set<string>((structure.forwardings ?? []).map((f) => f.floatingIp));
    return {
      ...plan,
      addAddresses: [...addedAddresses].filter((ip) => !recorded.addresses.has(ip)) as IPv4[],
      removeAddresses: [...new Set(change.removed.map((m) => m.floatingIp as string))]
        .filter((ip) => !addedAddresses.has(ip) && !forwarded.has(ip) && recorded.addresses.has(ip))
        .sort(),
    };
  }

  /**
   * Applies a whole-router plan made from `actual`, then the chores. Returns the conntrack entries deleted. On
   * success the record is what the kernel now holds; on failure there is none, so the next pass reads.
   * `meanwhile`: the caller's own preparations for after the apply, run while the backend's batch goes in (see
   * run); nothing it prepares may take effect before the apply has succeeded.
   */
  async apply(
    plan: Plan,
    desired: DesiredRouter,
    actual: State & ActualRouter,
    meanwhile?: () => void | Promise<void>,
  ): Promise<number> {
    this.records.delete(desired.routerId);
    // Assigned by run(), which calls its `meanwhile` on every path that returns.
    let record!: Record<State>;
    const deleted = await this.run(plan, async (budget) => {
      record = await this.recordAfter(plan, desired, actual, budget);
      await budget.yield();
      await meanwhile?.();
    });
    this.records.set(desired.routerId, record);
    this.warm(desired);
    return deleted;
  }

  /** Starts the namespace's ip channel if it is not running, when the agent asks for that (see warmChannels). */
  private warm(desired: DesiredRouter): void {
    if (this.chores.warmChannels && !this.backend.withoutKernel) this.channels?.warm(desired.namespace);
  }

  /** Applies a delta plan (see planDelta), then the chores, and brings the record forward. */
  async applyDelta(plan: Plan, structure: DesiredRouter, change: MappingChange): Promise<number> {
    const record = this.records.get(structure.routerId);
    // Out of the record first: if the apply fails halfway, nothing of this change is trusted.
    this.records.delete(structure.routerId);
    const deleted = await this.run(plan);
    if (record) {
      // The addresses as the plan changed them, not as the mappings did: a standby adds none, and a floating
      // address that still carries a forwarding stays.
      // In place: the record's maps are this layer's own (recordAfter made them), and a copy of 100,000 entries
      // per delta is what an association would wait for.
      applyChangesInPlace(record.state, [change]);
      const addresses = record.state.addresses as Set<string>;
      for (const ip of plan.removeAddresses) addresses.delete(ip);
      for (const ip of plan.addAddresses) addresses.add(ip);
      this.records.set(structure.routerId, record);
    }
    return deleted;
  }

  /** The floating addresses the gateway device should hold for `desired`. */
  private wantedAddresses(desired: DesiredRouter): IPv4[] {
    return this.chores.floatingAddresses === false ? [] : floatingAddresses(desired);
  }

  /**
   * Read, plan and apply once (tools, benchmarks and tests; the agent runs these steps itself, around its lease
   * guard). Returns the plan that was applied.
   */
  async reconcile(desired: DesiredRouter): Promise<Plan> {
    const actual = await this.read(desired);
    const plan = this.plan(desired, actual);
    await this.apply(plan, desired, actual);
    return plan;
  }

  /** Removes the router: the backend's objects, then its floating addresses. */
  async remove(target: RouterTarget): Promise<void> {
    this.records.delete(target.routerId);
    await this.backend.remove(target);
    let addresses: Set<string>;
    try {
      addresses = await this.addresses.read(target);
    } catch {
      return; // the device is gone, and its addresses with it
    }
    await this.addresses.change(target, [], [...addresses]);
  }

  /** Forgets the record of a router (a failure elsewhere): the next pass reads the kernel. */
  forget(routerId: string): void {
    this.records.delete(routerId);
  }

  /**
   * The backend's batch, then the chores. What follows the batch without depending on its outcome (the address
   * batch, the conntrack cleanup's addresses, the caller's `meanwhile`) is prepared while the kernel takes the
   * batch: the first apply of a table of 100,000 floating IPs is about 2 s of the element loader in the kernel,
   * this thread idle. Prepared in slices (LoopBudget, yieldToLoop), so API requests are answered meanwhile; none
   * of it reaches the kernel before the batch is in (translation first, addresses second), and none when it fails.
   */
  private async run(plan: Plan, meanwhile?: (budget: LoopBudget) => Promise<void>): Promise<number> {
    const translating = plan.batch === null ? undefined : this.backend.apply(plan);
    // Settled into a value at once: the preparation below yields to the loop, and a rejection left unhandled
    // there would end the process.
    const failure = translating?.then(
      () => undefined,
      (error: unknown) => ({ error }),
    );
    let prepared: Prepared;
    try {
      prepared = await this.prepare(plan, meanwhile);
    } catch (error) {
      // Never returns with the batch still going in; a failed batch is the error that counts.
      const failed = await failure;
      throw failed ? failed.error : error;
    }
    const failed = await failure;
    if (failed) throw failed.error;
    if (translating) await applyFailpoint();
    await prepared.addresses();
    if (this.backend.withoutKernel) return 0;
    const deleted = prepared.stale ? await cleanConntrack(plan.target, prepared.stale) : 0;
    this.chores.garp?.enqueue(plan.target, plan.addAddresses);
    return deleted;
  }

  /** Everything of run's chores that needs no kernel (see run). */
  private async prepare(plan: Plan, meanwhile?: (budget: LoopBudget) => Promise<void>): Promise<Prepared> {
    const { target, addAddresses: add, removeAddresses: remove } = plan;
    const budget = new LoopBudget();
    const addresses = this.addresses.prepare
      ? await this.addresses.prepare(target, add, remove, budget)
      : () => this.addresses.change(target, add, remove);
    await budget.check();
    await meanwhile?.(budget);
    const changed = plan.added.length + plan.removed.length > 0;
    if (!changed || !this.chores.conntrackCleanup || this.backend.withoutKernel) return { addresses };
    await budget.check();
    return { addresses, stale: await staleAddresses([...plan.added, ...plan.removed], budget) };
  }

  /** The record after a whole-router apply (prepared while the batch goes in: see run). */
  private async recordAfter(
    plan: Plan,
    desired: DesiredRouter,
    actual: State & ActualRouter,
    budget: LoopBudget,
  ): Promise<Record<State>> {
    const addresses = new Set<string>(this.wantedAddresses(desired));
    await budget.check();
    // The backend's state without mappings; the mappings' maps are filled here, in slices (see stateAfterRebuild).
    const rebuilt =
      plan.rebuild && !this.backend.readsEveryPass
        ? this.backend.stateAfterRebuild?.({ ...desired, mappings: [] })
        : undefined;
    if (rebuilt) {
      const mappings = await mappingsStateSliced(desired.mappings, rebuilt, budget);
      return { structure: desired, state: { ...rebuilt, ...mappings, addresses }, trusted: true };
    }
    // Without a rebuild only map entries changed when the read found the structure matching: the backend's own
    // read, with the mappings and addresses as they now are. Anything else is known only by its mappings.
    const trusted =
      !plan.rebuild && actual.present && actual.structureMatches && !this.backend.readsEveryPass;
    const state = {
      ...actual,
      present: true,
      structureMatches: true,
      ...(await mappingsStateSliced(desired.mappings, actual, budget)),
      addresses,
    };
    return { structure: desired, state, trusted };
  }
}

/** What run's chores prepared before the batch was in. */
interface Prepared {
  /** Sends the address changes. */
  readonly addresses: () => Promise<void>;
  /** Whose conntrack entries to delete once the batch is in; absent: no cleanup. */
  readonly stale?: StaleAddresses;
}

function cleanConntrack(target: RouterTarget, stale: StaleAddresses): Promise<number> {
  return deleteStaleConntrack(
    target.namespace,
    stale,
    undefined,
    sharedChannels.procNet(target.namespace),
    // The daemon's long-lived native helper when built (no process per cleanup); the conntrack tool otherwise.
    sharedSetDump(),
  );
}

/** Whether a kernel read shows exactly the state that was recorded. */
function sameKernelState(a: ActualRouter, b: ActualRouter): boolean {
  const sameMap = (x: ReadonlyMap<string, string>, y: ReadonlyMap<string, string>) =>
    x.size === y.size && [...x].every(([k, v]) => y.get(k) === v);
  return (
    a.present === b.present &&
    a.structureMatches === b.structureMatches &&
    sameMap(a.inbound, b.inbound) &&
    sameMap(a.outbound, b.outbound) &&
    a.addresses.size === b.addresses.size &&
    [...a.addresses].every((ip) => b.addresses.has(ip)) &&
    // Only a backend that reads limits back reports them; one that does not cannot show their drift.
    (a.limits === undefined || b.limits === undefined || sameMap(a.limits, b.limits))
  );
}

/** Everything but the mappings: when this changes, the backend may have to rebuild, so read the kernel. */
export function sameStructure(a: DesiredRouter, b: DesiredRouter): boolean {
  return (
    a.namespace === b.namespace &&
    a.gatewayDevice === b.gatewayDevice &&
    a.gatewayIp === b.gatewayIp &&
    (a.antiSpoofing ?? true) === (b.antiSpoofing ?? true) &&
    (a.fastPath ?? true) === (b.fastPath ?? true) &&
    a.internalCidrs.join() === b.internalCidrs.join() &&
    // Forwardings are part of the structure (nftables renders a digest of them into rule comments).
    JSON.stringify(a.forwardings ?? []) === JSON.stringify(b.forwardings ?? [])
  );
}
