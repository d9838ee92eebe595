import { run as defaultRun, type Runner } from '../../exec/run.js';
import { checkTool, kernelOptionChecks } from '../common/capabilities.js';
import { mappingsState } from '../router-state.js';
import type { BackendPlan, CapabilityCheck, Dataplane, DesiredRouter, RouterTarget } from '../types.js';
import { CHAIN_ROLES } from './chains.js';
import { ownedRouterIds, parseIptablesSave, type SavedTable } from './parse.js';
import { renderDelta, renderFull, renderRemove } from './render.js';
import { DEFAULT_IPTABLES_OPTIONS, jumpRules, type IptablesOptions } from './rules.js';
import { routerState, type IptablesActual } from './state.js';

/**
 * Which iptables: Debian 12's default `iptables` is iptables-nft (x_tables syntax compiled to nf_tables rules).
 * sfip calls the variant's binaries by name, so the host's alternatives setting never changes what it talks to.
 */
export type IptablesVariant = 'nft' | 'legacy';

export interface IptablesBackendOptions extends IptablesOptions {
  readonly variant: IptablesVariant;
  /**
   * Above this many per-rule deletes, the floating-IP chains are rewritten whole instead: iptables-restore
   * searches a chain for every `-D`, so many deletes in a long chain cost more than one rewrite.
   */
  readonly maxDeletes: number;
}

export const DEFAULT_IPTABLES_BACKEND_OPTIONS: IptablesBackendOptions = {
  ...DEFAULT_IPTABLES_OPTIONS,
  variant: 'nft',
  maxDeletes: 512,
};

/**
 * The stateful baseline: Neutron's L3-agent rules (DNAT and SNAT per floating IP through conntrack), in chains
 * sfip owns, applied with `iptables-restore --noflush` and read back with `iptables-save`. It exists to be
 * compared against the stateless backends, and for hosts that need stateful behaviour.
 */
export class IptablesDataplane implements Dataplane<IptablesActual> {
  readonly name = 'iptables' as const;
  /** The baseline's limits would be tc police filters per address, as Neutron's L3 agent has; not built yet. */
  readonly qosRefusal =
    'backend iptables cannot enforce them yet (missing capability: per-floating-IP tc police filters); use the nftables backend';
  private readonly options: IptablesBackendOptions;

  constructor(
    private readonly run: Runner = defaultRun,
    options: Partial<IptablesBackendOptions> = {},
  ) {
    this.options = { ...DEFAULT_IPTABLES_BACKEND_OPTIONS, ...options };
  }

  private tool(kind: 'save' | 'restore'): string {
    return `iptables-${this.options.variant}-${kind}`;
  }

  async check(): Promise<CapabilityCheck[]> {
    const pkg = 'Debian package iptables';
    return [
      await checkTool(this.run, this.tool('restore'), ['--version'], `${this.tool('restore')} (${pkg})`),
      await checkTool(this.run, this.tool('save'), ['--version'], `${this.tool('save')} (${pkg})`),
      await checkTool(this.run, 'conntrack', ['--version'], 'conntrack-tools, for stale-entry cleanup'),
      ...kernelOptionChecks([['CONFIG_IP_NF_RAW', 'iptables raw table']]),
    ];
  }

  /** The mangle and nat tables, in that order (jump rules are compared in this order). */
  private async save(namespace: string | null): Promise<Map<string, SavedTable>> {
    const tables = new Map<string, SavedTable>();
    for (const table of ['mangle', 'nat']) {
      const { stdout } = await this.run(this.tool('save'), ['-t', table], { netns: namespace });
      const parsed = parseIptablesSave(stdout).get(table);
      // A table nobody has used yet is not listed at all: it is simply empty.
      tables.set(table, parsed ?? { chains: new Set(), rules: [] });
    }
    return tables;
  }

  async read(target: RouterTarget, desired?: DesiredRouter): Promise<IptablesActual> {
    const tables = await this.save(target.namespace);
    return routerState(tables, target.routerId, desired, this.options);
  }

  plan(desired: DesiredRouter, actual: IptablesActual): BackendPlan {
    const delta = renderDelta(desired, actual.inbound, actual.outbound);
    const rebuild = !actual.present || !actual.structureMatches || delta.deletes > this.options.maxDeletes;
    return {
      target: desired,
      batch: rebuild ? renderFull(desired, actual.jumps, this.options) : delta.text,
      rebuild,
      added: delta.added,
      removed: delta.removed,
    };
  }

  /** A rebuild writes every chain and exactly the rendered jumps. */
  stateAfterRebuild(desired: DesiredRouter): IptablesActual {
    return {
      present: true,
      structureMatches: true,
      ...mappingsState(desired.mappings, {}),
      jumps: jumpRules(desired.routerId),
      chains: new Set(CHAIN_ROLES),
    };
  }

  async apply(plan: BackendPlan): Promise<void> {
    if (plan.batch !== null) await this.restore(plan.target.namespace, plan.batch);
  }

  private async restore(namespace: string | null, batch: string): Promise<void> {
    // legacy iptables takes the xtables lock; -w waits for it instead of failing when another tool holds it.
    const args = this.options.variant === 'legacy' ? ['--noflush', '-w'] : ['--noflush'];
    await this.run(this.tool('restore'), args, { netns: namespace, input: batch, timeoutMs: 300_000 });
  }

  async remove(target: RouterTarget): Promise<void> {
    const tables = await this.save(target.namespace);
    const state = routerState(tables, target.routerId);
    if (state.present) await this.restore(target.namespace, renderRemove(target.routerId, state.jumps));
  }

  async owned(namespace: string | null): Promise<string[]> {
    return ownedRouterIds(await this.save(namespace));
  }
}
