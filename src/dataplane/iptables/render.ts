import type { DesiredRouter, FloatingMapping } from '../types.js';
import { chainName, CHAIN_ROLES, TABLE_OF_ROLE, type ChainRole, type IptablesTable } from './chains.js';
import {
  DEFAULT_IPTABLES_OPTIONS,
  dnatRule,
  floatSnatRule,
  jumpRules,
  ownedRules,
  type IptablesOptions,
  type JumpRule,
} from './rules.js';

/*
 * Batches for `iptables-restore --noflush`. With --noflush, restore leaves every chain alone except the ones the
 * file declares (`:chain - [0:0]`), which it creates or flushes; `-A`, `-D` and `-X` lines then edit exactly
 * what they name. Each table section is one commit, so per table the kernel sees the old rules or the new ones,
 * never a half-written chain. Only sfip's own chains are declared, and in built-in chains only the jump rules
 * carrying this router's comment are deleted or added.
 */

const TABLES: readonly IptablesTable[] = ['mangle', 'nat'];

function rolesOf(table: IptablesTable): ChainRole[] {
  return CHAIN_ROLES.filter((r) => TABLE_OF_ROLE[r] === table);
}

/** Jumps to delete and add so that exactly the wanted ones exist; nothing when they already match. */
function jumpEdits(
  table: IptablesTable,
  existing: readonly JumpRule[],
  wanted: readonly JumpRule[],
): string[] {
  const have = existing.filter((j) => j.table === table);
  const want = wanted.filter((j) => j.table === table);
  const key = (j: JumpRule) => `${j.from} ${j.spec}`;
  if (have.length === want.length && have.every((j, i) => key(j) === key(want[i]!))) return [];
  return [...have.map((j) => `-D ${j.from} ${j.spec}`), ...want.map((j) => `-A ${j.from} ${j.spec}`)];
}

/**
 * Every owned chain of the router, written from scratch, and its jump rules made right. Used when the chains
 * are missing or drifted, or when patching would delete too many rules one by one.
 */
export function renderFull(
  desired: DesiredRouter,
  existingJumps: readonly JumpRule[],
  options: IptablesOptions = DEFAULT_IPTABLES_OPTIONS,
): string {
  const rules = ownedRules(desired, options);
  const wanted = jumpRules(desired.routerId);
  const lines: string[] = [];
  for (const table of TABLES) {
    const roles = rolesOf(table);
    lines.push(`*${table}`);
    // Declaring a chain creates it or, under --noflush, empties it.
    for (const role of roles) lines.push(`:${chainName(desired.routerId, role)} - [0:0]`);
    for (const role of roles) {
      const chain = chainName(desired.routerId, role);
      for (const spec of rules[role]) lines.push(`-A ${chain} ${spec}`);
    }
    // Jumps last: the chains they lead into are complete by then (within one commit, order is cosmetic).
    lines.push(...jumpEdits(table, existingJumps, wanted));
    lines.push('COMMIT');
  }
  return lines.join('\n') + '\n';
}

export interface IptablesDelta {
  readonly text: string | null;
  readonly added: FloatingMapping[];
  readonly removed: FloatingMapping[];
  /** Rules the batch deletes one by one; each costs a search of the chain. */
  readonly deletes: number;
}

/** Only the per-floating-IP rules that differ, when the rest is already right. Null text when nothing differs. */
export function renderDelta(
  desired: DesiredRouter,
  inbound: ReadonlyMap<string, string>,
  outbound: ReadonlyMap<string, string>,
): IptablesDelta {
  const id = desired.routerId;
  const pre = chainName(id, 'PREROUTING');
  const out = chainName(id, 'OUTPUT');
  const floatSnat = chainName(id, 'float-snat');
  const want = new Map(desired.mappings.map((m) => [m.floatingIp as string, m.fixedIp as string]));
  const wantOut = new Map(desired.mappings.map((m) => [m.fixedIp as string, m.floatingIp as string]));
  const removedIn = [...inbound]
    .filter(([fip, fixed]) => want.get(fip) !== fixed)
    .map(([floatingIp, fixedIp]) => ({ floatingIp, fixedIp }) as FloatingMapping);
  const removedOut = [...outbound]
    .filter(([fixed, fip]) => wantOut.get(fixed) !== fip)
    .map(([fixedIp, floatingIp]) => ({ floatingIp, fixedIp }) as FloatingMapping);
  const addIn = desired.mappings.filter((m) => inbound.get(m.floatingIp) !== m.fixedIp);
  const addOut = desired.mappings.filter((m) => outbound.get(m.fixedIp) !== m.floatingIp);
  const lines = [
    ...removedIn.flatMap((m) => [`-D ${pre} ${dnatRule(m)}`, `-D ${out} ${dnatRule(m)}`]),
    ...removedOut.map((m) => `-D ${floatSnat} ${floatSnatRule(m)}`),
    ...addIn.flatMap((m) => [`-A ${pre} ${dnatRule(m)}`, `-A ${out} ${dnatRule(m)}`]),
    ...addOut.map((m) => `-A ${floatSnat} ${floatSnatRule(m)}`),
  ];
  return {
    text: lines.length ? ['*nat', ...lines, 'COMMIT'].join('\n') + '\n' : null,
    added: addIn,
    removed: removedIn,
    deletes: removedIn.length * 2 + removedOut.length,
  };
}

/**
 * Removes everything the router owns: its jumps first, then its chains (declared first, so a missing chain is
 * created and deleted rather than failing the batch, the way `add table` + `delete table` works in nft).
 */
export function renderRemove(routerId: string, existingJumps: readonly JumpRule[]): string {
  const lines: string[] = [];
  for (const table of TABLES) {
    const chains = rolesOf(table).map((role) => chainName(routerId, role));
    lines.push(`*${table}`);
    lines.push(...chains.map((c) => `:${c} - [0:0]`));
    lines.push(...existingJumps.filter((j) => j.table === table).map((j) => `-D ${j.from} ${j.spec}`));
    lines.push(...chains.map((c) => `-X ${c}`));
    lines.push('COMMIT');
  }
  return lines.join('\n') + '\n';
}
