import { isNamespaceGone, run as defaultRun, type Runner } from '../../exec/run.js';
import { cidrContains, parseCidr } from '../../model/cidr.js';
import { isIPv4, type IPv4 } from '../../model/ipv4.js';
import { isDeviceName, parseNamespaceName } from '../../model/names.js';
import { checkTool, kernelOptionChecks } from '../common/capabilities.js';
import { checkGatewayDevice, describeNamespace } from '../common/gateway-addresses.js';
import type {
  BackendPlan,
  CapabilityCheck,
  Dataplane,
  DesiredRouter,
  FloatingIpCounters,
  RouterTarget,
} from '../types.js';
import { splitSteps, type StepTool } from './batch.js';
import { probeActNat, probeActPolice } from './capability.js';
import { floatingIpCounters } from './counters.js';
import { limitsOfLeaves } from './police.js';
import { checkTarget, netfilterNames, routerCookie } from './naming.js';
import { DEFAULT_TC_OPTIONS, type TcOptions } from './options.js';
import { parseIpsetSave, parseIptablesSave, routerIdsInSave } from './parse-netfilter.js';
import { parseFilters, parseQdiscs, type QdiscInfo } from './parse-tc.js';
import { planTc, structureMatches, treeSlots, type NetfilterState, type TcActualRouter } from './plan.js';
import { jumpKey, jumpRules, renderNetfilterRemoval } from './render-netfilter.js';
import { renderIpsetDestroy } from './render-ipset.js';
import { deletePriorityLine } from './render-tc.js';
import { filterParentsOf, interpretTree, type DeviceState, type TreeState } from './tc-state.js';
import type { TreeKind } from './u32-layout.js';

export interface TcDataplaneSettings extends TcOptions {
  /** Scratch namespace for the act_nat probe; it is created and deleted by check(). */
  readonly probeNamespace: string;
}

const TOOL_ARGS: Record<StepTool, string[]> = {
  ipset: ['ipset', '-exist', 'restore'],
  iptables: ['iptables-restore', '--noflush'],
  tc: ['tc', '-batch', '-'],
  tcSettled: ['tc', '-force', '-batch', '-'],
};

interface LinkAddresses {
  ifname?: string;
  addr_info?: { family?: string; local?: string }[];
}

/** Devices other than the gateway that hold an address in one of the router's internal subnets. */
function internalDevicesOf(links: readonly LinkAddresses[], desired: DesiredRouter): string[] {
  const cidrs = desired.internalCidrs.map((c) => parseCidr(c));
  const names = links
    .filter((l) =>
      (l.addr_info ?? []).some(
        (a) =>
          a.family === 'inet' && isIPv4(a.local ?? '') && cidrs.some((c) => cidrContains(c, a.local as IPv4)),
      ),
    )
    .map((l) => String(l.ifname))
    .filter((name) => name !== desired.gatewayDevice);
  for (const name of names) {
    if (!isDeviceName(name))
      throw new Error(`internal device '${name}' has a name the tc backend cannot program`);
  }
  return [...new Set(names)].sort();
}

/**
 * The seed's dataplane, corrected: tc `action nat` on the router's gateway device translates floating IPs, iptables
 * raw rules untrack them (matching where the hook order says the addresses are), ipsets keep that one lookup per
 * packet, and shared SNAT stays in iptables' nat table. tc on the internal devices translates hairpin traffic
 * between two floating IPs. See docs/tc.md.
 */
export class TcDataplane implements Dataplane<TcActualRouter> {
  readonly name = 'tc' as const;
  /** act_nat rewrites addresses only, and act_pedit (which could rewrite ports) is not built into this kernel. */
  readonly portForwardingRefusal =
    'backend tc cannot program port forwardings: act_nat rewrites IPv4 addresses only, and port rewriting needs act_pedit (CONFIG_NET_ACT_PEDIT), which this kernel lacks; use the nftables backend';
  // No qosRefusal: rate limits are police actions in the floating IP's own leaves (police.ts). A kernel without
  // act_police fails the apply of a limited floating IP with ACT_POLICE_MISSING, not the whole backend.
  readonly settings: TcDataplaneSettings;
  private actNat: Promise<CapabilityCheck> | undefined;
  private actPolice: Promise<CapabilityCheck> | undefined;

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
      ...kernelOptionChecks([
        ['CONFIG_NET_ACT_NAT', 'act_nat, the seed backend'],
        ['CONFIG_NET_CLS_U32', 'u32 classifier'],
      ]),
      // Always probed, not only for sfip doctor: applies refuse without it, and the probe is quick.
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

  /** Probed once per process, and only when a plan installs a policer: unlimited floating IPs do not need it. */
  private async ensureActPolice(): Promise<void> {
    this.actPolice ??= probeActPolice(this.run, `${this.settings.probeNamespace}-p`);
    const probe = await this.actPolice;
    if (!probe.ok) throw new Error(`The tc backend cannot enforce QoS limits here: ${probe.detail}`);
  }

  async read(target: RouterTarget, desired?: DesiredRouter): Promise<TcActualRouter> {
    checkTarget(target);
    // Few commands per read: inside an emulated guest each one costs tens of milliseconds, and the agent reads every
    // router on every resync.
    const links = await this.links(target);
    const gatewayLink = links.find((l) => l.ifname === target.gatewayDevice);
    if (!gatewayLink) {
      throw new Error(
        `gateway device ${target.gatewayDevice} does not exist in ${describeNamespace(target.namespace)}`,
      );
    }
    const internalDevices = desired ? internalDevicesOf(links, desired) : [];
    const devices = await this.readDevices(target, internalDevices);
    const netfilter = await this.readNetfilter(target);
    const gateway = devices[0]!;
    const inbound = new Map(leavesOf(gateway, 'inbound').map((l) => [l.key, l.to]));
    const outbound = new Map(leavesOf(gateway, 'outbound').map((l) => [l.key, l.to]));
    const limits = limitsOfLeaves(leavesOf(gateway, 'inbound'), leavesOf(gateway, 'outbound'));
    const present =
      devices.some((d) => d.layout !== 'none' && d.foreign.length === 0) ||
      netfilter.chains.size > 0 ||
      netfilter.sets.size > 0;
    const actual = {
      present,
      structureMatches: false,
      inbound,
      outbound,
      limits,
      devices,
      internalDevices,
      netfilter,
    };
    return {
      ...actual,
      structureMatches: desired !== undefined && structureMatches(desired, actual, this.settings),
    };
  }

  /** Every device of the namespace with its addresses; a missing namespace is named as such. */
  private async links(target: RouterTarget): Promise<LinkAddresses[]> {
    try {
      const { stdout } = await this.run('ip', ['-j', 'address', 'show'], { netns: target.namespace });
      return JSON.parse(stdout || '[]') as LinkAddresses[];
    } catch (error) {
      if (isNamespaceGone(error)) {
        throw new Error(`network namespace ${target.namespace} does not exist`, { cause: error });
      }
      throw error;
    }
  }

  /**
   * The gateway device, the internal devices, and any other device still carrying this router's filters: one
   * `tc qdisc show`, then one `tc -batch` listing the filters of every ingress and egress hook found.
   */
  private async readDevices(
    target: RouterTarget,
    internal: readonly string[],
    includeEmptyTrees = false,
  ): Promise<DeviceState[]> {
    const json = (await this.run('tc', ['-j', 'qdisc', 'show'], { netns: target.namespace })).stdout;
    const all = (JSON.parse(json || '[]') as { dev?: string }[]).map((q) => ({
      dev: String(q.dev ?? ''),
      info: parseQdiscs(JSON.stringify([q]))[0]!,
    }));
    const qdiscsOf = (dev: string): QdiscInfo[] => all.filter((q) => q.dev === dev).map((q) => q.info);
    const others = [...new Set(all.map((q) => q.dev))].filter(
      (dev) =>
        dev !== target.gatewayDevice &&
        !internal.includes(dev) &&
        isDeviceName(dev) &&
        qdiscsOf(dev).some((q) => q.parent === 'ffff:fff1'),
    );
    const candidates: [string, 'gateway' | 'internal', boolean][] = [
      [target.gatewayDevice, 'gateway', true],
      ...internal.map((d) => [d, 'internal', true] as [string, 'internal', boolean]),
      ...others.map((d) => [d, 'internal', false] as [string, 'internal', boolean]),
    ];
    const reads = candidates.flatMap(([dev, role]) => {
      const parents = filterParentsOf(qdiscsOf(dev), role);
      return (['ingress', 'egress'] as const).flatMap((hook) =>
        parents[hook] ? [{ dev, hook, parent: parents[hook] }] : [],
      );
    });
    const lists = await this.filterLists(
      target,
      reads.map((r) => `filter show dev ${r.dev} parent ${r.parent}`),
    );
    const devices: DeviceState[] = [];
    for (const [dev, role, wanted] of candidates) {
      const hooks = reads.flatMap((r, i) => (r.dev === dev ? [{ ...r, json: lists[i]! }] : []));
      const state = this.interpretDevice(target, dev, role, qdiscsOf(dev), hooks);
      // Another device counts when a filter there carries this router's cookie: provably its leftover. Removal also
      // takes hairpin trees that translate nothing (a router without floating IPs leaves them empty, with no cookie
      // to tell whose they are); another router sharing the namespace would rebuild its own at its next resync.
      const cookieLeaves = state.trees.some((t) => t.leaves.some((l) => l.kind !== 'gate'));
      const emptyTrees =
        includeEmptyTrees &&
        state.foreign.length === 0 &&
        state.trees.length > 0 &&
        state.trees.every((t) => t.leaves.length === 0);
      if (wanted || cookieLeaves || emptyTrees) devices.push(state);
    }
    return devices;
  }

  /** Runs `filter show` commands in one tc process; tc prints one JSON list per command, one per line. */
  private async filterLists(target: RouterTarget, commands: readonly string[]): Promise<string[]> {
    if (commands.length === 0) return [];
    const { stdout } = await this.run('tc', ['-j', '-s', '-batch', '-'], {
      netns: target.namespace,
      input: commands.join('\n') + '\n',
    });
    const lists = stdout.split('\n').filter((l) => l.trim() !== '');
    if (lists.length !== commands.length) {
      throw new Error(`tc printed ${lists.length} filter lists for ${commands.length} commands`);
    }
    return lists;
  }

  private interpretDevice(
    target: RouterTarget,
    device: string,
    role: 'gateway' | 'internal',
    qdiscs: QdiscInfo[],
    hooks: readonly { hook: 'ingress' | 'egress'; parent: string; json: string }[],
  ): DeviceState {
    const parents = filterParentsOf(qdiscs, role);
    const cookie = routerCookie(target.routerId);
    const foreign = [...parents.foreignQdiscs];
    const trees: TreeState[] = [];
    const priorities = [this.settings.priority, this.settings.priority + 1];
    const slots = treeSlots(role, this.settings);
    for (const { hook, parent, json } of hooks) {
      const byPriority = parseFilters(json, priorities, `${device} ${hook}`);
      for (const [priority, filters] of byPriority) {
        // By priority alone: sfip's trees found under another layout's parent are still sfip's (a layout change).
        const slot = slots.find((s) => s.priority === priority);
        const empty = filters.tables.length === 0 && filters.nodes.length === 0;
        if (!slot) {
          foreign.push(...filters.foreign);
          if (!empty) foreign.push(`${device} ${hook} filters at priority ${priority}`);
          continue;
        }
        const result = interpretTree(slot.kind, parent, priority, filters, cookie, this.settings.hairpinMark);
        foreign.push(...result.foreign);
        if (!empty) trees.push(result.state);
      }
    }
    return { device, role, layout: parents.layout, qdiscs, foreign, trees };
  }

  /** sfip's chains and jumps from one `iptables-save`, and its sets from one `ipset save`. */
  private async readNetfilter(target: RouterTarget): Promise<NetfilterState> {
    const n = netfilterNames(target.routerId);
    const saved = parseIptablesSave(
      (await this.run('iptables-save', [], { netns: target.namespace })).stdout,
    );
    const ours = new Set([n.rawChain, n.natPreChain, n.natPostChain, n.hairpinDnatChain]);
    const chains = new Map<string, readonly string[]>();
    for (const table of saved.values()) {
      for (const [chain, rules] of table) if (ours.has(chain)) chains.set(chain, rules);
    }
    const jumps = new Map<string, number>();
    for (const j of jumpRules(n)) {
      const rules = saved.get(j.table)?.get(j.builtin) ?? [];
      jumps.set(jumpKey(j), rules.filter((r) => r === j.rule).length);
    }
    const allSets = parseIpsetSave((await this.run('ipset', ['save'], { netns: target.namespace })).stdout);
    const sets = new Map<string, ReadonlySet<string>>();
    for (const name of [n.fixedSet, n.floatingSet]) {
      const members = allSets.get(name);
      if (members) sets.set(name, members);
    }
    return { chains, jumps, sets };
  }

  /**
   * Its u32 trees change with every mapping (a leaf per floating IP, in hashed tables), so the router layer reads
   * them before every plan rather than keeping a record: `actual` is always this backend's own read.
   */
  readonly readsEveryPass = true;

  plan(desired: DesiredRouter, actual: TcActualRouter): BackendPlan {
    checkTarget(desired);
    return planTc(desired, actual, this.settings);
  }

  async apply(plan: BackendPlan): Promise<void> {
    checkTarget(plan.target);
    if (plan.batch === null) return;
    await this.ensureActNat();
    if (/ action police /.test(plan.batch)) await this.ensureActPolice();
    for (const step of splitSteps(plan.batch)) {
      const [file, ...args] = TOOL_ARGS[step.tool];
      const options = { netns: plan.target.namespace, input: step.text };
      if (step.tool !== 'tcSettled') {
        await this.run(file!, args, options);
        continue;
      }
      await this.deleteWhenReleased(file!, args, options);
    }
  }

  /**
   * The kernel frees a replaced u32 filter after an RCU grace period (a work item, slow in an emulated guest), and
   * until then refuses to delete the tables it linked to. Retries the refused lines for a few seconds; whatever is
   * still refused stays as stale tables, which the next plan deletes.
   */
  private async deleteWhenReleased(
    file: string,
    args: string[],
    options: { netns: string | null; input: string },
  ): Promise<void> {
    let lines = options.input.split('\n').filter((l) => l !== '');
    const deadline = Date.now() + 10_000;
    for (let pauseMs = 50; lines.length > 0 && Date.now() < deadline; pauseMs = Math.min(pauseMs * 2, 1000)) {
      await new Promise((r) => setTimeout(r, pauseMs));
      const { code, stderr } = await this.run(file, args, {
        ...options,
        input: lines.join('\n') + '\n',
        okExitCodes: [1],
      });
      if (code === 0) return;
      const refused = new Set(
        [...stderr.matchAll(/in-use[\s\S]*?Command failed -:(\d+)/g)].map((m) => Number(m[1])),
      );
      lines = lines.filter((_l, i) => refused.has(i + 1));
    }
  }

  async remove(target: RouterTarget): Promise<void> {
    checkTarget(target);
    const ns = { netns: target.namespace };
    let gatewayExists = true;
    try {
      await checkGatewayDevice(target, this.run);
    } catch (error) {
      if (/network namespace .* does not exist/.test((error as Error).message)) throw error;
      gatewayExists = false; // the device is gone, and its qdiscs and addresses with it
    }
    const devices = gatewayExists ? await this.readDevices(target, [], true) : [];
    const lines: string[] = [];
    for (const device of devices) {
      const ours = device.role === 'gateway' ? device.layout !== 'none' : device.trees.length > 0;
      if (!ours) continue;
      if (device.foreign.length === 0) {
        const ingress = device.qdiscs.find((q) => q.parent === 'ffff:fff1');
        if (ingress)
          lines.push(`qdisc del dev ${device.device} ${ingress.kind === 'clsact' ? 'clsact' : 'ingress'}`);
        const root = device.qdiscs.find((q) => q.root && q.kind === 'htb' && q.handle === '10:');
        if (device.role === 'gateway' && root) lines.push(`qdisc del dev ${device.device} root`);
      } else {
        // Someone else's filters share the qdisc: take away only sfip's priorities.
        for (const tree of device.trees)
          lines.push(deletePriorityLine(device.device, tree.parent, tree.priority));
      }
    }
    if (lines.length) await this.run('tc', ['-batch', '-'], { ...ns, input: lines.join('\n') + '\n' });
    const n = netfilterNames(target.routerId);
    const netfilter = await this.readNetfilter(target);
    const removal = renderNetfilterRemoval(n, new Set(netfilter.chains.keys()), netfilter.jumps);
    if (removal) await this.run('iptables-restore', ['--noflush'], { ...ns, input: removal });
    const destroy = renderIpsetDestroy([...netfilter.sets.keys()]);
    if (destroy) await this.run('ipset', ['restore'], { ...ns, input: destroy });
  }

  async owned(namespace: string | null): Promise<string[]> {
    try {
      const { stdout } = await this.run('iptables-save', [], { netns: namespace });
      return routerIdsInSave(parseIptablesSave(stdout));
    } catch (error) {
      if (isNamespaceGone(error)) return [];
      throw error;
    }
  }

  /** Per-floating-IP packet and byte counts, from the nat actions' own statistics on the gateway device. */
  async counters(target: RouterTarget): Promise<FloatingIpCounters[]> {
    checkTarget(target);
    const [gateway] = await this.readDevices(target, []);
    return floatingIpCounters(leavesOf(gateway!, 'inbound'), leavesOf(gateway!, 'outbound'));
  }
}

function leavesOf(device: DeviceState, kind: TreeKind) {
  return device.trees.find((t) => t.kind === kind)?.leaves ?? [];
}
