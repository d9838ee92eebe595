import {
  compareIPv4,
  sharedIPv4s,
  sortByIPv4,
  fipOfRouterKey,
  interfacePorts,
  interfaceSubnets,
  portsOfSubnetKey,
  routerTrust,
  trustedJoints,
  type FloatingIp,
  type Port,
  type QosRule,
  type Router,
  type RouterTrust,
  type View,
} from '../model/index.js';
import { desiredProblem } from './kernel-names.js';
import type { DesiredRouter, FloatingMapping, ForwardingRule, RateLimit } from './types.js';

/** A floating IP the agent will not program on this router, and why (its status becomes ERROR with that reason). */
export interface RefusedFloatingIp {
  readonly floatingIp: FloatingIp;
  readonly reason: string;
}

export interface RouterIntent {
  readonly router: Router;
  /** Null when the router cannot be programmed; `problem` says why. */
  readonly desired: DesiredRouter | null;
  readonly problem: string;
  /** The floating IPs whose status this reconcile decides: those in `desired` (or refused with `problem`). */
  readonly floatingIps: readonly FloatingIp[];
  /** Floating IPs pointing at this router that must not be mapped on it, each with its own reason. */
  readonly refused: readonly RefusedFloatingIp[];
}

/**
 * Desired dataplane state for one router: a pure function of the store. `listed`: the router's floating IPs when
 * the caller has already read them in this same read (the agent's start lists every floating IP anyway: parsing
 * 100,000 documents twice cost a second); they are read through the router's index otherwise.
 */
export function routerIntent(store: View, router: Router, listed?: readonly FloatingIp[]): RouterIntent {
  // One read transaction is consistent, so remembering answers within it is safe: each port is read once, ahead
  // (see portsAhead) or when first asked for.
  const view = memoView(store);
  // One read of the router's floating IPs (100,000 documents at scale), sorted once; each check below takes the
  // kind it is about (mapped, forwarded) from the one list, without a filtered copy of it.
  const all = sortByIPv4(
    listed ?? view.find('floatingip', fipOfRouterKey(router.id)),
    (f) => f.floatingIpAddress,
  );
  const trust = routerTrust(view, router);
  const ahead = portsAhead(store, view, router, trust, all);
  const { accepted: mapped, mappings, refused } = trustedFloatingIps(view, router, trust, all, ahead);
  const forwarded = trustedForwardings(view, router, trust, all);
  refused.push(...forwarded.refused);
  // The mapped floating IPs first, in the order of `desired.mappings` (the agent's applied record relies on it).
  const floatingIps = forwarded.accepted.length > 0 ? [...mapped, ...forwarded.accepted] : mapped;
  const { desired: structure, problem } = routerStructure(view, router);
  if (!structure) return { router, desired: null, problem, floatingIps, refused };
  const desired: DesiredRouter = {
    ...structure,
    mappings,
    ...(forwarded.rules.length > 0 && { forwardings: forwarded.rules }),
  };
  // Everything in `desired` ends up in kernel batch files: refuse anything that did not come through validation.
  const unsafe = desiredProblem(desired);
  if (unsafe) {
    return { router, desired: null, problem: `refusing to program: ${unsafe}`, floatingIps, refused };
  }
  return { router, problem: '', floatingIps, refused, desired };
}

/**
 * The rate limits a floating IP's QoS policy asks for, with each rule's "0 = default" burst resolved, sorted as
 * `limitsKey` expects; or why it cannot be programmed. Whether the floating IP may use the policy was checked by
 * the model when it was set (its own project's, a shared one, or any for an admin), and un-sharing a policy
 * another project's floating IP uses is refused there too, so that is trusted here. A policy that is gone (a
 * store written another way) refuses the floating IP: it is never forwarded without limits it asked for.
 */
export function qosLimits(view: View, fip: FloatingIp): { limits: readonly RateLimit[]; problem: string } {
  if (!fip.qosPolicyId) return NO_LIMITS;
  const policy = view.get('qospolicy', fip.qosPolicyId);
  if (!policy) {
    return {
      limits: [],
      problem: `floating IP ${fip.floatingIpAddress} has QoS policy ${fip.qosPolicyId}, which does not exist`,
    };
  }
  const limits = policy.rules.map(rateLimitOf);
  limits.sort((a, b) => a.direction.localeCompare(b.direction) || a.unit.localeCompare(b.unit));
  return { limits, problem: '' };
}

/** A floating IP without a QoS policy: one answer shared by the 100,000 of a full pass, asked twice each. */
const NO_LIMITS = Object.freeze({ limits: Object.freeze([] as RateLimit[]), problem: '' });

/** A bandwidth rule's default burst: 80% of one second at the rate, as Neutron's L3 agent uses; one packet at least. */
const DEFAULT_BURST_SHARE = 0.8;
const MIN_BURST_KBIT = 12;
/** A packet-rate rule's default burst: a tenth of a second at the rate. */
const DEFAULT_PACKET_BURST_SECONDS = 0.1;

function rateLimitOf(rule: QosRule): RateLimit {
  if (rule.type === 'bandwidth_limit') {
    const burst = rule.maxBurst || Math.max(MIN_BURST_KBIT, Math.round(rule.max * DEFAULT_BURST_SHARE));
    return { direction: rule.direction, unit: 'kbit', rate: rule.max, burst };
  }
  const rate = rule.max * 1000;
  const burst = rule.maxBurst
    ? rule.maxBurst * 1000
    : Math.max(1, Math.round(rate * DEFAULT_PACKET_BURST_SECONDS));
  return { direction: rule.direction, unit: 'packets', rate, burst };
}

/**
 * Port forwardings of a floating IP with QoS limits: no backend limits forwarded ports, so such a floating IP is
 * refused whole rather than forwarded without its limits.
 */
function forwardingQosProblem(view: View, fip: FloatingIp): string {
  const { limits, problem } = qosLimits(view, fip);
  if (problem || limits.length === 0) return problem;
  return `floating IP ${fip.floatingIpAddress} has port forwardings and QoS policy ${fip.qosPolicyId} with rate limits, and no sfip dataplane backend limits port forwardings (missing capability: rate limits on forwarded ports)`;
}

/** One floating IP as the kernel maps it (the caller has checked that it has a fixed IP). */
function mappingOf(view: View, f: FloatingIp): FloatingMapping {
  const mac = f.portId ? view.get('port', f.portId)?.macAddress : undefined;
  return mappingFrom(f, mac, qosLimits(view, f).limits);
}

function mappingFrom(f: FloatingIp, mac: string | undefined, limits: readonly RateLimit[]): FloatingMapping {
  // Built field by field: a spread of `mac && {...}` made an object per floating IP only to copy it.
  const mapping: { -readonly [K in keyof FloatingMapping]: FloatingMapping[K] } = {
    floatingIp: f.floatingIpAddress,
    fixedIp: f.fixedIpAddress!,
  };
  if (mac) mapping.fixedMac = mac;
  if (limits.length > 0) mapping.limits = limits;
  return mapping;
}

/**
 * Everything of a router's desired state but its mappings and forwardings; null with the reason when it cannot
 * be programmed.
 */
function routerStructure(view: View, router: Router): { desired: DesiredRouter | null; problem: string } {
  const gatewayIp = router.externalGateway?.fixedIps[0]?.ipAddress;
  const problem = !router.externalGateway
    ? `router ${router.id} has no external gateway`
    : !router.gatewayDevice
      ? `router ${router.id} has no gateway_device, so sfip does not know where to program it`
      : !gatewayIp
        ? `router ${router.id} has no external fixed IP`
        : '';
  if (problem || !router.gatewayDevice || !gatewayIp) return { desired: null, problem };
  return {
    problem: '',
    desired: {
      routerId: router.id,
      namespace: router.namespace,
      gatewayDevice: router.gatewayDevice,
      gatewayIp,
      internalCidrs: [...new Set(interfaceSubnets(view, router).map((s) => s.cidr))].sort(),
      mappings: [],
      antiSpoofing: router.antiSpoofing ?? true,
      fastPath: router.fastPath ?? true,
    },
  };
}

/**
 * What a few changed floating IPs now want on a router, read without listing the router's other floating IPs
 * (at 100,000 that read alone costs hundreds of milliseconds). `mappings` maps each id to its mapping on this
 * router, or null when it has none here any more (deleted, disassociated, moved away). Null as a whole when the
 * router itself cannot be programmed or a floating IP would be refused: the caller then runs a full reconcile,
 * which reports each refusal with its reason.
 */
export interface MappingChanges {
  readonly structure: DesiredRouter;
  readonly mappings: ReadonlyMap<string, FloatingMapping | null>;
  /** The changed floating IPs that now have a mapping here, for status reports. */
  readonly floatingIps: readonly FloatingIp[];
}

export function changedMappings(view: View, router: Router, fipIds: Iterable<string>): MappingChanges | null {
  // The router's structure and trusted interfaces depend on routers, ports, subnets and networks alone: the store
  // keeps them while none of those changes (View.structural), instead of reading the router's interfaces twice on
  // every delta (2 s of the daemon's busy 66 in a churn of 1,000 changes a second on 100 routers). Frozen: shared.
  const kept = <T>(key: string, read: () => T): T =>
    view.structural ? view.structural(`${key} ${router.id}`, read) : read();
  const structure = kept('structure', () => frozenStructure(routerStructure(view, router).desired));
  if (!structure) return null;
  const trust = routerTrust(
    view,
    router,
    kept('joints', () => trustedJoints(view, router)),
  );
  const mappings = new Map<string, FloatingMapping | null>();
  const floatingIps: FloatingIp[] = [];
  for (const id of fipIds) {
    const fip = view.get('floatingip', id);
    if (fip && (fip.portForwardings ?? []).length > 0) return null;
    if (!fip || fip.routerId !== router.id || fip.fixedIpAddress === null) {
      mappings.set(id, null);
      continue;
    }
    // Port forwardings are part of the router's structure: a floating IP that has any takes a full pass.
    if (
      (fip.portForwardings ?? []).length > 0 ||
      qosLimits(view, fip).problem ||
      typeof trust.mappedPort(fip) === 'string'
    )
      return null;
    mappings.set(id, mappingOf(view, fip));
    floatingIps.push(fip);
  }
  const unsafe = desiredProblem({ ...structure, mappings: [...mappings.values()].flatMap((m) => m ?? []) });
  return unsafe ? null : { structure, mappings, floatingIps };
}

/** A structure shared by every delta of its router until the store changes it: nobody may change it. */
function frozenStructure(desired: DesiredRouter | null): DesiredRouter | null {
  if (!desired) return null;
  Object.freeze(desired.internalCidrs);
  Object.freeze(desired.mappings);
  return Object.freeze(desired);
}

/**
 * Splits a router's floating IPs into those it may map and those it must refuse: a mapping whose chain crosses
 * projects without an admin's doing (`RouterTrust.mappedPort`), and every mapping of a fixed or floating address that
 * another mapping of this router also claims. A kernel map holds one element per address; refusing the
 * claimants (rather than failing the router's whole apply on a duplicate element) keeps the router's other
 * floating IPs forwarding, and no claimant wins by arriving second.
 */
function trustedFloatingIps(
  view: View,
  router: Router,
  trust: RouterTrust,
  floatingIps: readonly FloatingIp[],
  ahead: PortsAhead,
): { accepted: FloatingIp[]; mappings: FloatingMapping[]; refused: RefusedFloatingIp[] } {
  const refused: RefusedFloatingIp[] = [];
  const trusted: FloatingIp[] = [];
  // Each trusted floating IP's mapping, built in the same pass (its port and limits are at hand).
  const mappings: FloatingMapping[] = [];
  floatingIps.forEach((fip, i) => {
    // Only the floating IPs with a fixed IP are mapped (those without may have port forwardings).
    if (fip.fixedIpAddress === null) return;
    const { limits, problem } = qosLimits(view, fip);
    const checked = ahead.problems[i];
    const port = problem || (checked === undefined ? trust.mappedPort(fip) : checked);
    if (typeof port === 'string' && port !== '') {
      refused.push({ floatingIp: fip, reason: `refusing to program: ${port}` });
      return;
    }
    trusted.push(fip);
    mappings.push(mappingFrom(fip, typeof port === 'string' ? ahead.macs[i] : port.macAddress, limits));
  });
  // Who claims each fixed and each floating address (a kernel map holds one element per address).
  const fixed = sharedIPv4s(trusted, (f) => f.fixedIpAddress!);
  const floating = sharedIPv4s(trusted, (f) => f.floatingIpAddress);
  // No address claimed twice (every full pass of a sound store): all of them, without a look-up each.
  if (fixed.size === 0 && floating.size === 0) return { accepted: trusted, mappings, refused };
  // The claimants of each address claimed twice, in order (one list per such address, not per address).
  const claimants = (shared: Set<string>, address: (f: FloatingIp) => string) => {
    const of = new Map<string, string[]>();
    for (const f of trusted) {
      const a = address(f);
      if (!shared.has(a)) continue;
      const ids = of.get(a);
      if (ids) ids.push(f.id);
      else of.set(a, [f.id]);
    }
    return of;
  };
  const rivals = {
    fixed: claimants(fixed, (f) => f.fixedIpAddress!),
    floating: claimants(floating, (f) => f.floatingIpAddress),
  };
  const rivalry = (which: keyof typeof rivals, address: string) => {
    const holders = rivals[which].get(address);
    return holders
      ? `${which} IP ${address} is mapped twice on router ${router.id} (floating IPs ${holders.join(', ')})`
      : '';
  };
  const accepted: FloatingIp[] = [];
  const acceptedMappings: FloatingMapping[] = [];
  trusted.forEach((fip, i) => {
    const rival = rivalry('fixed', fip.fixedIpAddress!) || rivalry('floating', fip.floatingIpAddress);
    if (rival) refused.push({ floatingIp: fip, reason: `refusing to program: ${rival}` });
    else {
      accepted.push(fip);
      acceptedMappings.push(mappings[i]!);
    }
  });
  return { accepted, mappings: acceptedMappings, refused };
}

/** Below this many floating IPs a router's ports are read one by one (as the checks ask for them). */
const PREFETCH_MIN = 256;

/** Ports parsed per page of a read ahead: each page is garbage before the next one (see portsAhead). */
const PORT_PAGE = 2_000;

/**
 * The trust checks of a router's mapped floating IPs, by their index in `floatingIps`, run on their ports read
 * ahead: the reason each is refused ('' when trusted) and its port's MAC. An index left undefined had its port
 * elsewhere (or the read ahead did not pay): its check reads the port itself.
 */
interface PortsAhead {
  readonly problems: readonly (string | undefined)[];
  readonly macs: readonly (string | undefined)[];
}

/**
 * Reads the ports of a router's floating IPs ahead, in indexed queries per subnet of its interfaces, when those
 * subnets hold not much more than them: at 100,000 floating IPs, one read per port costs over a second (the
 * statement per row, more than the JSON), the same rows through the subnet's index a fraction of it. Each port
 * is checked as it is read and only its MAC is kept: a store of documents as text is read in pages, so that
 * 100,000 parsed ports never live at once (holding them all until the end of the pass made the collector copy
 * them out of the young generation, a third of the read's time). The ports are the ones this read transaction
 * would return one by one.
 */
function portsAhead(
  store: View,
  view: View,
  router: Router,
  trust: RouterTrust,
  floatingIps: readonly FloatingIp[],
): PortsAhead {
  const none = { problems: [], macs: [] };
  if (floatingIps.length < PREFETCH_MIN) return none;
  const keys = [
    ...new Set(interfacePorts(view, router).flatMap((p) => p.fixedIps.map((ip) => ip.subnetId))),
  ].map(portsOfSubnetKey);
  const held = keys.reduce((n, key) => n + view.count(key), 0);
  if (held > 2 * floatingIps.length) return none;
  // Filled in the floating IPs' order below: written at random indexes, an empty array would turn into a slow
  // dictionary of elements.
  const problems: (string | undefined)[] = [];
  const macs: (string | undefined)[] = [];
  // Which mapped floating IPs each port holds (most ports hold one; a port of several fixed IPs, more).
  const first = new Map<string, number>();
  const more = new Map<string, number[]>();
  floatingIps.forEach((fip, i) => {
    problems.push(undefined);
    macs.push(undefined);
    if (fip.fixedIpAddress === null || !fip.portId) return;
    const at = first.get(fip.portId);
    const also = at === undefined ? undefined : more.get(fip.portId);
    if (at === undefined) first.set(fip.portId, i);
    else if (also) also.push(i);
    else more.set(fip.portId, [i]);
  });
  const check = (i: number, port: Port) => {
    problems[i] = trust.portProblem(floatingIps[i]!, port);
    macs[i] = port.macAddress;
  };
  for (const key of keys)
    forEachPort(store, key, (port) => {
      const i = first.get(port.id);
      if (i === undefined) return;
      check(i, port);
      for (const j of more.get(port.id) ?? []) check(j, port);
    });
  return { problems, macs };
}

/** Every port holding an index key: in pages of parsed text where the store keeps text, else in one find. */
function forEachPort(store: View, key: string, each: (port: Port) => void): void {
  const pages = store.rangeDocuments;
  if (!pages) return store.find('port', key).forEach((port) => each(port));
  let after: string | undefined;
  for (;;) {
    const page = pages('port', { key, limit: PORT_PAGE, ...(after !== undefined && { after }) });
    let port: Port | undefined;
    for (const text of page) each((port = JSON.parse(text) as Port));
    if (page.length < PORT_PAGE || !port) return;
    after = port.id;
  }
}

/** A view that remembers lookups and non-floating-IP gets, for the length of one read. */
function memoView(view: View): View {
  // One map per kind, keyed by id: no key string built per get (hundreds of thousands in a full pass).
  const gets = new Map<string, Map<string, unknown>>();
  const lookups = new Map<string, ReturnType<View['lookup']>>();
  const of = (kind: string) => {
    let byId = gets.get(kind);
    if (!byId) gets.set(kind, (byId = new Map()));
    return byId;
  };
  return {
    get: ((kind: string, id: string) => {
      if (kind === 'floatingip') return view.get(kind, id);
      // One lookup for what is remembered (a full pass asks for each of 100,000 ports twice); has() only for
      // a remembered absence.
      const byId = of(kind);
      let entity = byId.get(id);
      if (entity === undefined && !byId.has(id)) byId.set(id, (entity = view.get(kind as 'port', id)));
      return entity;
    }) as View['get'],
    list: (kind) => view.list(kind),
    lookup: (key) => {
      let refs = lookups.get(key);
      if (!refs) lookups.set(key, (refs = view.lookup(key)));
      return refs;
    },
    find: (kind, key) => view.find(kind, key),
    range: (kind, options) => view.range(kind, options),
    count: (...args: Parameters<View['count']>) => view.count(...args),
  };
}

/**
 * The port forwardings a router may program, as kernel rules. A floating IP whose forwardings fail the trust
 * chain, or claim a key another floating IP's forwarding already holds (the model refuses both; a store written
 * another way might not), is refused whole, with its reason.
 */
function trustedForwardings(
  view: View,
  router: Router,
  trust: RouterTrust,
  floatingIps: readonly FloatingIp[],
): { accepted: FloatingIp[]; refused: RefusedFloatingIp[]; rules: ForwardingRule[] } {
  const accepted: FloatingIp[] = [];
  const refused: RefusedFloatingIp[] = [];
  const rules: ForwardingRule[] = [];
  const claimed = new Map<string, Claim[]>();
  for (const fip of floatingIps) {
    // A floating IP with a fixed IP is mapped whole: its forwardings, if any, are not programmed.
    if (fip.fixedIpAddress !== null || (fip.portForwardings ?? []).length === 0) continue;
    const reason = forwardingQosProblem(view, fip) || trust.forwardingProblem(fip);
    if (reason) {
      refused.push({ floatingIp: fip, reason: `refusing to program: ${reason}` });
      continue;
    }
    const mine = (fip.portForwardings ?? []).map((pf): ForwardingRule => ({
      floatingIp: fip.floatingIpAddress,
      protocol: pf.protocol,
      fixedIp: pf.internalIpAddress,
      externalPortStart: pf.externalPortStart,
      externalPortEnd: pf.externalPortEnd,
      internalPortStart: pf.internalPortStart,
      internalPortEnd: pf.internalPortEnd,
    }));
    // The kernel keys: (internal address, protocol, internal port) and (internal address, protocol, external port).
    const keys = mine.flatMap((r) => [
      `${r.fixedIp} ${r.protocol} internal ${r.internalPortStart}-${r.internalPortEnd}`,
      `${r.fixedIp} ${r.protocol} external ${r.externalPortStart}-${r.externalPortEnd}`,
    ]);
    const clash = keys
      .map((key) => ({ key, owner: claimOwner(claimed, key, fip.id) }))
      .find((c) => c.owner !== undefined);
    if (clash) {
      refused.push({
        floatingIp: fip,
        reason: `refusing to program: port forwarding key ${clash.key} overlaps one of floating IP ${clash.owner!} on router ${router.id}`,
      });
      continue;
    }
    for (const k of keys) claim(claimed, k, fip.id);
    accepted.push(fip);
    rules.push(...mine);
  }
  rules.sort(
    (a, b) =>
      compareIPv4(a.floatingIp, b.floatingIp) ||
      a.protocol.localeCompare(b.protocol) ||
      a.externalPortStart - b.externalPortStart,
  );
  return { accepted, refused, rules };
}

interface Claim {
  readonly start: number;
  readonly end: number;
  readonly owner: string;
}

/** The floating IP that claimed a range key (`addr proto kind a-b`) overlapping this one, if another did. */
function claimOwner(claimed: ReadonlyMap<string, Claim[]>, key: string, fipId: string): string | undefined {
  const { group, start, end } = splitKey(key);
  return claimed.get(group)?.find((c) => c.owner !== fipId && start <= c.end && c.start <= end)?.owner;
}

function claim(claimed: Map<string, Claim[]>, key: string, owner: string): void {
  const { group, start, end } = splitKey(key);
  const list = claimed.get(group) ?? [];
  list.push({ start, end, owner });
  claimed.set(group, list);
}

function splitKey(key: string): { group: string; start: number; end: number } {
  const cut = key.lastIndexOf(' ');
  const [start, end] = key
    .slice(cut + 1)
    .split('-')
    .map(Number);
  return { group: key.slice(0, cut), start: start!, end: end! };
}
