import { ExecError, run as defaultRun, type Runner } from '../../exec/run.js';
import { parseNamespaceName } from '../../model/names.js';
import type { IPv4 } from '../../model/ipv4.js';
import { checkTool } from '../common/capabilities.js';
import {
  applyAddressChanges,
  checkGatewayDevice,
  readFloatingAddresses,
} from '../common/gateway-addresses.js';
import type {
  ActualRouter,
  CapabilityCheck,
  Dataplane,
  DesiredRouter,
  Plan,
  RouterTarget,
} from '../types.js';
import { splitSteps, type StepTool } from './batch.js';
import { ACT_NAT_MISSING, probeActNat } from './capability.js';
import { floatingIpCounters, type FloatingIpCounters } from './counters.js';
import { checkTarget, netfilterNames, routerCookie } from './naming.js';
import { DEFAULT_TC_OPTIONS, type TcOptions } from './options.js';
import { parseIpsetSave, parseIptablesSave, routerIdsInSave } from './parse-netfilter.js';
import { parseFilters, parseQdiscs } from './parse-tc.js';
import { isTcActual, planTc, structureMatches, type NetfilterState, type TcActualRouter } from './plan.js';
import { jumpKey, jumpRules, renderNetfilterRemoval } from './render-netfilter.js';
import { renderIpsetDestroy } from './render-ipset.js';
import { filterParentsOf, interpretDirection, type DirectionState, type TcDeviceState } from './tc-state.js';

export interface TcDataplaneSettings extends TcOptions {
  /** Scratch namespace for the act_nat probe; it is created and deleted by check(). */
  readonly probeNamespace: string;
}

const TOOL_ARGS: Record<StepTool, string[]> = {
  ipset: ['ipset', '-exist', 'restore'],
  iptables: ['iptables-restore', '--noflush'],
  tc: ['tc', '-batch', '-'],
};

/**
 * The seed's dataplane, corrected: tc `action nat` on the router's gateway device translates floating IPs, iptables
 * raw rules untrack them (matching where the hook order says the addresses are), ipsets keep that one lookup per
 * packet, and shared SNAT stays in iptables' nat table. See docs/tc.md.
 */
export class TcDataplane implements Dataplane {
  readonly name = 'tc' as const;
  readonly settings: TcDataplaneSettings;
  private actNat: Promise<CapabilityCheck> | undefined;

  constructor(
    private readonly run: Runner = defaultRun,
    settings: Partial<TcDataplaneSettings> = {},
  ) {
    this.settings = { ...DEFAULT_TC_OPTIONS, probeNamespace: `sfip-tcprobe-${process.pid}`, ...settings };
    parseNamespaceName(this.settings.probeNamespace, 'probeNamespace');
  }

  async check(): Promise<CapabilityCheck[]> {
    return [
      await checkTool(this.run, 'tc', ['-V'], 'tc from iproute2'),
      await checkTool(this.run, 'iptables-restore', ['--version'], 'iptables (Debian package iptables)'),
      await checkTool(this.run, 'ipset', ['--version'], 'ipset (Debian package ipset)'),
      await checkTool(this.run, 'conntrack', ['--version'], 'conntrack-tools, for stale-entry cleanup'),
      await this.actNatCheck(),
    ];
  }

  /** Probed once per process: the kernel does not gain or lose act_nat while sfip runs. */
  private actNatCheck(): Promise<CapabilityCheck> {
    this.actNat ??= probeActNat(this.run, this.settings.probeNamespace);
    return this.actNat;
  }

  /** Refuses before anything is changed when the kernel cannot do what the plan needs. */
  private async ensureActNat(): Promise<void> {
    const probe = await this.actNatCheck();
    if (!probe.ok) throw new Error(`The tc backend cannot run here: ${probe.detail}`);
  }

  async read(target: RouterTarget, desired?: DesiredRouter): Promise<TcActualRouter> {
    checkTarget(target);
    await checkGatewayDevice(target, this.run);
    const [addresses, device, netfilter] = [
      await readFloatingAddresses(target, this.run),
      await this.readDevice(target),
      await this.readNetfilter(target),
    ];
    const inbound = new Map((device.inbound?.leaves ?? []).map((l) => [l.key, l.to]));
    const outbound = new Map((device.outbound?.leaves ?? []).map((l) => [l.key, l.to]));
    const present =
      device.layout !== 'none' || netfilter.chains.size > 0 || netfilter.sets.size > 0 || inbound.size > 0;
    return {
      present,
      structureMatches: desired !== undefined && structureMatches(desired, device, netfilter, this.settings),
      inbound,
      outbound,
      addresses,
      device,
      netfilter,
    };
  }

  private async readDevice(target: RouterTarget): Promise<TcDeviceState> {
    const tc = (args: string[]) => this.run('tc', args, { netns: target.namespace });
    const qdiscs = parseQdiscs((await tc(['-j', 'qdisc', 'show', 'dev', target.gatewayDevice])).stdout);
    const parents = filterParentsOf(qdiscs);
    const cookie = routerCookie(target.routerId);
    const foreign = [...parents.foreignQdiscs];
    const directions: { inbound?: DirectionState; outbound?: DirectionState } = {};
    for (const direction of ['inbound', 'outbound'] as const) {
      const parent = parents[direction];
      if (!parent) continue;
      const json = (await tc(['-j', '-s', 'filter', 'show', 'dev', target.gatewayDevice, 'parent', parent]))
        .stdout;
      const where = `${direction === 'inbound' ? 'ingress' : 'egress'} (parent ${parent})`;
      const result = interpretDirection(
        direction,
        parent,
        parseFilters(json, this.settings.priority, where),
        cookie,
      );
      directions[direction] = result.state;
      foreign.push(...result.foreign);
    }
    return { layout: parents.layout, qdiscs, foreign, ...directions } as TcDeviceState;
  }

  private async readNetfilter(target: RouterTarget): Promise<NetfilterState> {
    const n = netfilterNames(target.routerId);
    const saved = parseIptablesSave(
      (await this.run('iptables-save', [], { netns: target.namespace })).stdout,
    );
    const ours = new Set([n.rawChain, n.natPreChain, n.natPostChain, n.hairpinDnatChain, n.hairpinSnatChain]);
    const chains = new Map<string, readonly string[]>();
    for (const table of saved.values()) {
      for (const [chain, rules] of table) if (ours.has(chain)) chains.set(chain, rules);
    }
    const jumps = new Map<string, number>();
    for (const j of jumpRules(n)) {
      const rules = saved.get(j.table)?.get(j.builtin) ?? [];
      jumps.set(jumpKey(j), rules.filter((r) => r === j.rule).length);
    }
    const sets = new Map<string, ReadonlySet<string>>();
    for (const name of [n.fixedSet, n.floatingSet]) {
      const { stdout, code } = await this.run('ipset', ['save', name], {
        netns: target.namespace,
        okExitCodes: [1],
      });
      if (code === 0) sets.set(name, parseIpsetSave(stdout).get(name) ?? new Set());
    }
    return { chains, jumps, sets };
  }

  plan(desired: DesiredRouter, actual: ActualRouter): Plan {
    checkTarget(desired);
    if (!isTcActual(actual)) {
      throw new Error('The tc backend plans only from what its own read() returned');
    }
    return planTc(desired, actual, this.settings);
  }

  async apply(plan: Plan): Promise<void> {
    checkTarget(plan.target);
    if (plan.batch !== null) {
      await this.ensureActNat();
      // Translation and untracking first, addresses second, as in the nftables backend.
      for (const step of splitSteps(plan.batch)) {
        const [file, ...args] = TOOL_ARGS[step.tool];
        await this.run(file!, args, { netns: plan.target.namespace, input: step.text });
      }
    }
    await applyAddressChanges(plan.target, plan.addAddresses as IPv4[], plan.removeAddresses, this.run);
  }

  async remove(target: RouterTarget): Promise<void> {
    checkTarget(target);
    const ns = { netns: target.namespace };
    let deviceExists = true;
    try {
      await checkGatewayDevice(target, this.run);
    } catch (error) {
      if (/network namespace .* does not exist/.test((error as Error).message)) throw error;
      deviceExists = false; // the device is gone, and its qdiscs and addresses with it
    }
    if (deviceExists) {
      const device = await this.readDevice(target);
      const lines: string[] = [];
      if (device.foreign.length === 0) {
        const ingress = device.qdiscs.find((q) => q.parent === 'ffff:fff1');
        if (ingress)
          lines.push(
            `qdisc del dev ${target.gatewayDevice} ${ingress.kind === 'clsact' ? 'clsact' : 'ingress'}`,
          );
        const root = device.qdiscs.find((q) => q.root && q.kind === 'htb' && q.handle === '10:');
        if (root) lines.push(`qdisc del dev ${target.gatewayDevice} root`);
      } else {
        // Someone else's filters share the qdisc: take away only sfip's priority.
        for (const state of [device.inbound, device.outbound]) {
          if (state && (state.tables.length > 0 || state.rootLink)) {
            lines.push(
              `filter del dev ${target.gatewayDevice} parent ${state.parent} protocol ip prio ${this.settings.priority}`,
            );
          }
        }
      }
      if (lines.length) await this.run('tc', ['-batch', '-'], { ...ns, input: lines.join('\n') + '\n' });
    }
    const n = netfilterNames(target.routerId);
    const netfilter = await this.readNetfilter(target);
    const removal = renderNetfilterRemoval(n, new Set(netfilter.chains.keys()), netfilter.jumps);
    if (removal) await this.run('iptables-restore', ['--noflush'], { ...ns, input: removal });
    const destroy = renderIpsetDestroy([...netfilter.sets.keys()]);
    if (destroy) await this.run('ipset', ['restore'], { ...ns, input: destroy });
    if (deviceExists) {
      const addresses = await readFloatingAddresses(target, this.run);
      await applyAddressChanges(target, [], [...addresses], this.run);
    }
  }

  async owned(namespace: string | null): Promise<string[]> {
    try {
      const { stdout } = await this.run('iptables-save', [], { netns: namespace });
      return routerIdsInSave(parseIptablesSave(stdout));
    } catch (error) {
      if (error instanceof ExecError && /Cannot open network namespace/.test(error.stderr)) return [];
      throw error;
    }
  }

  /** Per-floating-IP packet and byte counts, from the nat actions' own statistics. */
  async counters(target: RouterTarget): Promise<FloatingIpCounters[]> {
    checkTarget(target);
    const device = await this.readDevice(target);
    return floatingIpCounters(device);
  }
}

export { ACT_NAT_MISSING };
