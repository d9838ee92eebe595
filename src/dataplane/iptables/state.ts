import type { BackendState, DesiredRouter } from '../types.js';
import { chainName, CHAIN_ROLES, routerIdOfJump, TABLE_OF_ROLE, type ChainRole } from './chains.js';
import type { SavedTable } from './parse.js';
import {
  DEFAULT_IPTABLES_OPTIONS,
  forwardingDnatRules,
  FORWARDING_DNAT_RULE,
  jumpRules,
  parseDnatRule,
  parseFloatSnatRule,
  structureRules,
  type IptablesOptions,
  type JumpRule,
} from './rules.js';

/** What the iptables backend found for one router: the common view plus what a rebuild must replace. */
export interface IptablesActual extends BackendState {
  /** This router's jump rules in built-in chains, exactly as saved (a rebuild deletes them by spec). */
  readonly jumps: readonly JumpRule[];
  /** Owned chains that exist, by role. */
  readonly chains: ReadonlySet<ChainRole>;
}

/**
 * Reads one router's state out of saved tables. The mappings come from the DNAT rules (inbound) and the
 * float-snat rules (outbound); everything else must match the rendering exactly, or the structure is drifted
 * and the next plan rebuilds the router's chains.
 */
export function routerState(
  tables: ReadonlyMap<string, SavedTable>,
  routerId: string,
  desired?: DesiredRouter,
  options: IptablesOptions = DEFAULT_IPTABLES_OPTIONS,
): IptablesActual {
  const chains = new Set<ChainRole>();
  const rulesOf = new Map<ChainRole, string[]>();
  for (const role of CHAIN_ROLES) {
    const table = tables.get(TABLE_OF_ROLE[role]);
    const name = chainName(routerId, role);
    if (!table?.chains.has(name)) continue;
    chains.add(role);
    rulesOf.set(
      role,
      table.rules.filter((r) => r.chain === name).map((r) => r.spec),
    );
  }
  const jumps: JumpRule[] = [];
  for (const [tableName, table] of tables) {
    if (tableName !== 'mangle' && tableName !== 'nat') continue;
    for (const rule of table.rules) {
      if (routerIdOfJump(rule.spec) === routerId)
        jumps.push({ table: tableName, from: rule.chain, spec: rule.spec });
    }
  }
  const inbound = new Map<string, string>();
  const outbound = new Map<string, string>();
  let wellFormed = true;
  const forwarding: string[] = [];
  for (const spec of rulesOf.get('PREROUTING') ?? []) {
    if (FORWARDING_DNAT_RULE.test(spec)) {
      forwarding.push(spec);
      continue;
    }
    const pair = parseDnatRule(spec);
    if (!pair || inbound.has(pair[0])) wellFormed = false;
    else inbound.set(pair[0], pair[1]);
  }
  for (const spec of rulesOf.get('float-snat') ?? []) {
    const pair = parseFloatSnatRule(spec);
    if (!pair || outbound.has(pair[0])) wellFormed = false;
    else outbound.set(pair[0], pair[1]);
  }
  const output = rulesOf.get('OUTPUT') ?? [];
  const prerouting = rulesOf.get('PREROUTING') ?? [];
  // OUTPUT carries the same DNAT rules as PREROUTING; the delta patches both alike, so they must agree.
  if (output.length !== prerouting.length || !sameSet(output, prerouting)) wellFormed = false;

  let structureMatches = false;
  if (desired !== undefined && wellFormed && chains.size === CHAIN_ROLES.length) {
    const want = structureRules(desired, options);
    const wantJumps = jumpRules(routerId);
    structureMatches =
      (Object.keys(want) as (keyof typeof want)[]).every((role) =>
        sameList(rulesOf.get(role) ?? [], want[role]),
      ) &&
      // Port forwardings are structure here: any change rewrites the router's chains in one commit.
      sameList(forwarding, forwardingDnatRules(desired)) &&
      sameList(
        jumps.map((j) => `${j.table} ${j.from} ${j.spec}`),
        wantJumps.map((j) => `${j.table} ${j.from} ${j.spec}`),
      );
  }
  return {
    present: chains.size > 0 || jumps.length > 0,
    structureMatches,
    inbound,
    outbound,
    jumps,
    chains,
  };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(b);
  return a.every((x) => set.has(x));
}
