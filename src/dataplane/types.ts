import type { LoopBudget } from '../metrics/slices.js';
import type { BackendName, IPv4 } from '../model/index.js';

/** Where a router's dataplane lives on this host. */
export interface RouterTarget {
  readonly routerId: string;
  /** Network namespace; null means the host's own. */
  readonly namespace: string | null;
  readonly gatewayDevice: string;
}

/**
 * One rate limit of a floating IP, from a rule of its QoS policy. `ingress` is traffic towards the VM (inbound
 * to the floating IP), `egress` traffic from it, as Neutron means them for a port. Bandwidth limits count kbit
 * (rate in kbit/s, burst in kbit), packet-rate limits packets (rate in packets/s, burst in packets). The burst is
 * always explicit here: desired.ts resolves a rule's "0 = default" to sfip's default, so every backend enforces
 * the same bucket and a read-back can be compared with what was asked.
 */
export interface RateLimit {
  readonly direction: 'ingress' | 'egress';
  readonly unit: 'kbit' | 'packets';
  readonly rate: number;
  readonly burst: number;
}

/** One floating IP as the kernel needs it: the two addresses, and its rate limits if it has any. */
export interface FloatingMapping {
  readonly floatingIp: IPv4;
  readonly fixedIp: IPv4;
  /** The MAC address of the port holding the fixed IP, for anti-spoofing; absent when unknown. */
  readonly fixedMac?: string;
  /** Sorted by direction then unit (see `limitsKey`); absent when the floating IP has no limits. */
  readonly limits?: readonly RateLimit[];
}

/**
 * A floating IP's limits as one comparable text (empty for none): what a backend's read-back reports per
 * floating address, and what the agent's record of an apply keeps.
 */
export function limitsKey(limits: readonly RateLimit[] | undefined): string {
  return (limits ?? []).map((l) => `${l.direction} ${l.rate}/${l.burst} ${l.unit}`).join('; ');
}

/** The inverse of `limitsKey` (the kernel's current limits of one floating IP, to delete them). */
export function parseLimitsKey(key: string): RateLimit[] {
  if (!key) return [];
  return key.split('; ').map((part) => {
    const [direction, rates, unit] = part.split(' ');
    const [rate, burst] = (rates ?? '').split('/').map(Number);
    return {
      direction: direction === 'ingress' ? 'ingress' : 'egress',
      unit: unit === 'kbit' ? 'kbit' : 'packets',
      rate: rate ?? 0,
      burst: burst ?? 0,
    };
  });
}

/**
 * One port forwarding as the kernel needs it: external ports of a floating address to an internal address and
 * ports. N:N ranges map port by port; N:1 (internal start equals end) sends every external port to one.
 */
export interface ForwardingRule {
  readonly floatingIp: IPv4;
  readonly protocol: 'tcp' | 'udp';
  readonly fixedIp: IPv4;
  readonly externalPortStart: number;
  readonly externalPortEnd: number;
  readonly internalPortStart: number;
  readonly internalPortEnd: number;
}

/** Everything a backend must program for one router, derived purely from the store. */
export interface DesiredRouter extends RouterTarget {
  /** The router's own external address: the source for shared SNAT. */
  readonly gatewayIp: IPv4;
  /** Internal subnets (canonical CIDR text, sorted) whose traffic without a floating IP leaves through shared SNAT. */
  readonly internalCidrs: readonly string[];
  /** Sorted by floating address; floating and fixed addresses are each unique. */
  readonly mappings: readonly FloatingMapping[];
  /**
   * Drop packets from the gateway device addressed straight to an internal address, and packets claiming a
   * fixed IP that has a floating IP from any MAC but its port's. Default true.
   */
  readonly antiSpoofing?: boolean;
  /**
   * Backends that can forward floating-IP traffic past the kernel's stack (eBPF: bpf_fib_lookup and a redirect)
   * do so where the kernel supports it; false keeps every packet on the stack's path. Default true.
   */
  readonly fastPath?: boolean;
  /**
   * Port forwardings, sorted by floating address, protocol and external port. Their floating addresses carry no
   * 1:1 mapping. Absent or empty when there are none.
   */
  readonly forwardings?: readonly ForwardingRule[];
}

/** What a backend found in the kernel for one router: its own objects (translation), never the addresses. */
export interface BackendState {
  /** The backend's own objects exist (table, qdiscs, programs...). */
  readonly present: boolean;
  /** True when everything but the mappings matches what `desired` would render. */
  readonly structureMatches: boolean;
  /** floating -> fixed, as the kernel translates inbound. */
  readonly inbound: ReadonlyMap<string, string>;
  /** fixed -> floating, as the kernel translates outbound. */
  readonly outbound: ReadonlyMap<string, string>;
  /** fixed -> MAC, as the backend's anti-spoofing holds them (backends without MAC checks leave it out). */
  readonly macs?: ReadonlyMap<string, string>;
  /**
   * floating -> `limitsKey` of its rate limits, for floating IPs that have any (backends without QoS leave it
   * out).
   */
  readonly limits?: ReadonlyMap<string, string>;
  /**
   * Set when the read overlapped an apply to the same router (a delta beside a resync) and the backend reads
   * elements in dumps that are not one snapshot: a netlink dump of a set that changes under it may skip elements
   * (nftables). Such a read may lack elements the kernel holds; it never shows one the kernel does not.
   */
  readonly mayLackElements?: boolean;
}

/** A router as the kernel holds it: the backend's translation, and the floating addresses on its gateway. */
export interface ActualRouter extends BackendState {
  /** Floating addresses on the gateway device (local routes marked as sfip's; see gateway-addresses.ts). */
  readonly addresses: ReadonlySet<string>;
}

/** What a backend changes for one router: one batch of its own objects, applied atomically. */
export interface BackendPlan {
  readonly target: RouterTarget;
  /** Backend-specific batch text (an nft file, a tc batch...), applied atomically; null when nothing changes. */
  readonly batch: string | null;
  /** True when the batch rebuilds the backend's objects instead of patching them. */
  readonly rebuild: boolean;
  /** Mappings that appear, disappear or change: their conntrack state may be stale afterwards. */
  readonly added: readonly FloatingMapping[];
  readonly removed: readonly FloatingMapping[];
}

/** The difference between desired and actual for a whole router: the backend's batch, then the addresses. */
export interface Plan extends BackendPlan {
  readonly addAddresses: readonly IPv4[];
  readonly removeAddresses: readonly string[];
}

/** Traffic through one floating IP since its kernel object was created, as the dataplane itself counted it. */
export interface FloatingIpCounters {
  readonly floatingIp: string;
  /** Packets and bytes addressed to the floating IP (before translation to the fixed IP). */
  readonly packetsIn: number;
  readonly bytesIn: number;
  /** Packets and bytes that left with the floating IP as their source (after translation). */
  readonly packetsOut: number;
  readonly bytesOut: number;
}

export interface CheckOptions {
  /**
   * Also prove kernel features by using them in a scratch namespace (a program load, a map with notrack), which
   * takes a second or more: `sfip doctor` does; an agent starting up relies on the quick checks and finds the
   * rest at its first apply.
   */
  readonly probe?: boolean;
}

export interface CapabilityCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/**
 * A dataplane backend: it translates, and nothing else. Rendering and planning are pure; `read` and `apply` are
 * thin wrappers over one kernel tool each. Every backend owns and marks its kernel objects, and never touches
 * others'. The chores every backend shares (floating addresses, conntrack cleanup, gratuitous ARP) and the
 * record of what was applied last belong to RouterDataplane (router-dataplane.ts), which drives a backend.
 *
 * `State` is what this backend's read() returns; plan() is only ever given a state of its own read (kept
 * current by RouterDataplane across applies), never one made up by a caller.
 */
export interface Dataplane<State extends BackendState = BackendState> {
  readonly name: BackendName;
  /**
   * What the kernel and tools on this host support for this backend; a failed check makes it unusable. The one
   * place that says so: the agent asks it before starting, `sfip doctor` asks it of every backend.
   */
  check(options?: CheckOptions): Promise<CapabilityCheck[]>;
  /**
   * For an ACTIVE router's status_reason: what this backend carries differently from what the router asks,
   * without failing (the eBPF fast path on a kernel without its helpers). Empty when nothing; absent: never.
   */
  routerNote?(desired: DesiredRouter): Promise<string>;
  read(target: RouterTarget, desired?: DesiredRouter): Promise<State>;
  plan(desired: DesiredRouter, actual: State): BackendPlan;
  apply(plan: BackendPlan): Promise<void>;
  /**
   * Removes everything this backend owns for the router (the router was deleted or moved away); the router
   * layer removes the floating addresses.
   */
  remove(target: RouterTarget): Promise<void>;
  /** Router ids this backend holds state for in a namespace, so a restarted agent can sweep leftovers. */
  owned(namespace: string | null): Promise<string[]>;
  /**
   * Per-floating-IP traffic counters of one router, read in one batched kernel read. Optional: a backend
   * without it reports no traffic metrics. Counters restart from zero when the backend rebuilds its objects;
   * Prometheus' rate() treats that as a counter reset. Callers cache the result (reads are not free at scale).
   */
  counters?(target: RouterTarget): Promise<FloatingIpCounters[]>;
  /**
   * Why this backend cannot program port forwardings, naming the missing capability; absent when it can. The
   * agent then leaves a router's forwardings out of what it applies and marks their floating IPs ERROR with
   * this reason, so nothing is half-applied and the router's 1:1 floating IPs keep working.
   */
  readonly portForwardingRefusal?: string;
  /**
   * Why this backend cannot enforce QoS rate limits, naming the missing capability; absent when it can. The
   * agent then leaves every floating IP with limits out of what it applies (never forwarding it without them)
   * and marks it ERROR with this reason; the router's other floating IPs are applied as usual.
   */
  readonly qosRefusal?: string;
  /**
   * True for a dataplane that programs no kernel (the fake): the agent's kernel chores around an apply
   * (conntrack cleanup, gratuitous ARP) do not apply to its routers, whose namespaces need not exist.
   */
  readonly withoutKernel?: boolean;
  /**
   * Optional, pure: the plan for a few mappings that change on a router whose structure is as last applied,
   * planned against RouterDataplane's record of this backend's state instead of a kernel read. A backend
   * without it gets a full reconcile for every change. Undefined: this change needs a full pass (eBPF maps the
   * change outgrows: only a full pass builds a bigger generation), which the caller runs instead.
   */
  planDelta?(delta: MappingDelta<State>): BackendPlan | undefined;
  /**
   * What this backend's read would return right after `desired` was applied by a rebuild, when that follows
   * from `desired` alone (a table that holds exactly what was rendered). Absent: only a read can tell (eBPF's
   * generations and hooks), so the router layer reads again before trusting anything: the agent gives the router a
   * resync at once, which reads only the kernel (RouterReconciler.needsReadToTrust). The router layer asks it for
   * `desired` without its mappings and fills the mapping maps (inbound, outbound, and macs and limits where the
   * state has them) itself, in slices (mappingsStateSliced): nothing else of it may depend on the mappings.
   */
  stateAfterRebuild?(desired: DesiredRouter): State;
  /**
   * True when even a change of mappings changes kernel objects that plan() must see as they are (tc's u32
   * trees): the router layer then reads the kernel before every plan instead of keeping a record.
   */
  readonly readsEveryPass?: boolean;
  /**
   * Where the floating addresses of a dataplane that programs no kernel (the fake) live; absent: on the
   * gateway device, as local routes.
   */
  readonly gatewayAddresses?: GatewayAddresses;
  /**
   * Optional: removes what this backend keeps outside any namespace (eBPF pins) for routers that no longer
   * exist (not in `keep`) and that nothing uses any more. Returns the router ids pruned.
   */
  prune?(keep: ReadonlySet<string>): Promise<string[]>;
}

/** A change of a few mappings, relative to what was applied last on the router. */
export interface MappingDelta<State extends BackendState = BackendState> {
  /** The router's structure, unchanged since the last apply; `mappings` holds the mappings that appear or change. */
  readonly desired: DesiredRouter;
  /**
   * The backend's recorded state (its last read, kept current across applies) narrowed to the addresses the
   * change touches: what those addresses hold now. Everything else of the state is as recorded.
   */
  readonly before: State;
  /** How many mappings the router holds once the change is applied. */
  readonly installed: number;
}

/** Where a router's floating addresses live (the router layer's; see gateway-addresses.ts for the kernel's). */
export interface GatewayAddresses {
  read(target: RouterTarget): Promise<Set<string>>;
  /** Removals first, then additions, as one batch. */
  change(target: RouterTarget, add: readonly IPv4[], remove: readonly string[]): Promise<void>;
  /**
   * Optional: the same change made ready without touching the kernel (validated and rendered, in slices of
   * `budget`); the returned function applies it. The router layer prepares while the backend's batch goes in.
   * Absent: `change` does it all once the batch is in.
   */
  prepare?(
    target: RouterTarget,
    add: readonly IPv4[],
    remove: readonly string[],
    budget: LoopBudget,
  ): Promise<() => Promise<void>>;
}

export function isEmptyPlan(plan: Plan): boolean {
  return plan.batch === null && plan.addAddresses.length === 0 && plan.removeAddresses.length === 0;
}

/** The floating addresses a router's gateway must hold: its 1:1 mappings' and its port forwardings'. */
export function floatingAddresses(desired: DesiredRouter): IPv4[] {
  const forwarded = (desired.forwardings ?? []).map((f) => f.floatingIp);
  return [...new Set([...desired.mappings.map((m) => m.floatingIp), ...forwarded])];
}
