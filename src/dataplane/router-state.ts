import { inSlices, type LoopBudget } from '../metrics/slices.js';
import { limitsKey, type ActualRouter, type BackendState, type FloatingMapping } from './types.js';

/** What one change of mappings did to a router: the mappings as they were (removed) and as they are (added). */
export interface MappingChange {
  readonly added: readonly FloatingMapping[];
  readonly removed: readonly FloatingMapping[];
}

/**
 * The common fields of a backend's state that hold exactly these mappings. Fields the backend does not read
 * (macs, limits) stay absent when `like` has none.
 */
export function mappingsState(
  mappings: readonly FloatingMapping[],
  like: Pick<BackendState, 'macs' | 'limits'>,
): Pick<BackendState, 'inbound' | 'outbound' | 'macs' | 'limits'> {
  const state = emptyMappingsState(like);
  addMappings(state, mappings, 0, mappings.length);
  return state;
}

/**
 * mappingsState in slices of the loop's time: a full pass records 100,000 mappings (70-190 ms in one piece), and
 * does so while the backend's batch goes in, when API requests are answered meanwhile.
 */
export async function mappingsStateSliced(
  mappings: readonly FloatingMapping[],
  like: Pick<BackendState, 'macs' | 'limits'>,
  budget: LoopBudget,
): Promise<Pick<BackendState, 'inbound' | 'outbound' | 'macs' | 'limits'>> {
  const state = emptyMappingsState(like);
  await inSlices(mappings.length, budget, (start, end) => addMappings(state, mappings, start, end));
  return state;
}

interface MappingMaps {
  readonly inbound: Map<string, string>;
  readonly outbound: Map<string, string>;
  readonly macs?: Map<string, string>;
  readonly limits?: Map<string, string>;
}

function emptyMappingsState(like: Pick<BackendState, 'macs' | 'limits'>): MappingMaps {
  return {
    inbound: new Map(),
    outbound: new Map(),
    ...(like.macs && { macs: new Map() }),
    ...(like.limits && { limits: new Map() }),
  };
}

/** Mappings `start` to `end` into every map in one walk (an array of pairs per map cost more than the maps). */
function addMappings(
  state: MappingMaps,
  mappings: readonly FloatingMapping[],
  start: number,
  end: number,
): void {
  const { inbound, outbound, macs, limits } = state;
  for (let i = start; i < end; i++) {
    const m = mappings[i]!;
    inbound.set(m.floatingIp, m.fixedIp);
    outbound.set(m.fixedIp, m.floatingIp);
    if (macs && m.fixedMac) macs.set(m.fixedIp, m.fixedMac);
    if (limits && m.limits?.length) limits.set(m.floatingIp, limitsKey(m.limits));
  }
}

/**
 * A state with changes applied on top, in order (deltas that landed after or during the read it came from).
 * Everything but the mappings and addresses is kept as it was: the changes touched map entries only.
 */
export function withChanges<S extends ActualRouter>(state: S, changes: readonly MappingChange[]): S {
  if (changes.length === 0) return state;
  const copy = {
    ...state,
    inbound: new Map(state.inbound),
    outbound: new Map(state.outbound),
    ...(state.macs && { macs: new Map(state.macs) }),
    ...(state.limits && { limits: new Map(state.limits) }),
  };
  applyChangesInPlace(copy, changes);
  const addresses = new Set(state.addresses);
  for (const { added, removed } of changes) {
    for (const m of removed) addresses.delete(m.floatingIp);
    for (const m of added) addresses.add(m.floatingIp);
  }
  return { ...copy, addresses };
}

/**
 * `withChanges` without the copies, for the router layer's record only: its maps are its own (made by
 * `recordAfter`), and nothing else writes them. Copying five maps of 100,000 entries on every delta cost 100-150 ms
 * per association at 100,000 floating IPs (the scale bench of 2026-12-03: associate → traffic p50 133 ms on
 * nftables, 146 ms on eBPF). The floating addresses are left to the caller, which follows the plan.
 */
export function applyChangesInPlace(state: BackendState, changes: readonly MappingChange[]): void {
  const inbound = state.inbound as Map<string, string>;
  const outbound = state.outbound as Map<string, string>;
  const macs = state.macs as Map<string, string> | undefined;
  const limits = state.limits as Map<string, string> | undefined;
  for (const { added, removed } of changes) {
    for (const m of removed) {
      inbound.delete(m.floatingIp);
      outbound.delete(m.fixedIp);
      macs?.delete(m.fixedIp);
      limits?.delete(m.floatingIp);
    }
    for (const m of added) {
      inbound.set(m.floatingIp, m.fixedIp);
      outbound.set(m.fixedIp, m.floatingIp);
      if (m.fixedMac) macs?.set(m.fixedIp, m.fixedMac);
      if (m.limits?.length) limits?.set(m.floatingIp, limitsKey(m.limits));
    }
  }
}

/**
 * A state narrowed to the addresses a change touches (its floating and fixed addresses, before and after): what
 * those addresses hold now, as the state records it. A backend plans a delta from it exactly as from a whole
 * state, because its plan is per key; everything that is not a mapping (structure, generations) is kept whole.
 */
export function narrowedTo<S extends ActualRouter>(state: S, change: MappingChange): S {
  const floating = new Set<string>();
  const fixed = new Set<string>();
  for (const m of [...change.added, ...change.removed]) {
    floating.add(m.floatingIp);
    fixed.add(m.fixedIp);
  }
  const pick = (map: ReadonlyMap<string, string>, keys: ReadonlySet<string>) =>
    new Map([...keys].flatMap((k) => (map.has(k) ? [[k, map.get(k)!] as const] : [])));
  return {
    ...state,
    inbound: pick(state.inbound, floating),
    outbound: pick(state.outbound, fixed),
    addresses: new Set([...floating].filter((ip) => state.addresses.has(ip))),
    ...(state.macs && { macs: pick(state.macs, fixed) }),
    ...(state.limits && { limits: pick(state.limits, floating) }),
  };
}
