import { readdir, rm } from 'node:fs/promises';
import { isNamespaceGone, run as defaultRun, type Runner } from '../../exec/run.js';
import { checkTool, kernelOptionChecks } from '../common/capabilities.js';
import { sharedChannels, type NetnsChannels } from '../common/netns-channels.js';
import { probeProgramLoad } from './probe.js';
import type {
  BackendPlan,
  FloatingIpCounters,
  CapabilityCheck,
  CheckOptions,
  Dataplane,
  DesiredRouter,
  MappingDelta,
  RouterTarget,
} from '../types.js';
import { applyEbpf } from './apply.js';
import { stateAfterApply, type AppliedGeneration } from './after-apply.js';
import { defaultLoader, type KernelLoader } from './loader.js';
import { pinnedProgramIds } from './program-ids.js';
import { prunePins } from './prune.js';
import { RouterMaps } from './open-maps.js';
import { checkBpffs, checkObject } from './checks.js';
import { bpfPackageVersion } from './maps.js';
import { readCounters } from './counters.js';
import { deviceNames } from './devices.js';
import { PIN_ROOT, PROGRAM_NAMES } from './layout.js';
import { renderDeleteTable, routerIdOfTable } from './nft.js';
import {
  DEFAULT_NOPEER_OBJECT_PATH,
  DEFAULT_OBJECT_PATH,
  DEFAULT_TC_OBJECT_PATH,
  loadObject,
} from './object.js';
import { probeFastPath, type FastPathSupport } from './fast-path.js';
import type { EbpfOptions } from './options.js';
import { planEbpf, structureChanges, targetGeneration, type PlanSettings } from './plan.js';
import { entriesNeeded } from './capacity.js';
import { generationPaths, routerPinDir } from './paths.js';
import { currentGeneration, listGenerations, readHooks, readRouter } from './read.js';
import { runInNetns } from './netns.js';
import type { EbpfActualRouter } from './state.js';
import { TC_HANDLE, TC_PRIORITY } from './layout.js';
import { forwardingEntries } from './forwarding.js';

export const DEFAULT_EBPF_OPTIONS: EbpfOptions = {
  capacity: 262_144,
  minCapacity: 1024,
  untrackMark: 0x10000000,
  hairpinMark: 0x20000000,
  objectPath: DEFAULT_OBJECT_PATH,
  tcObjectPath: DEFAULT_TC_OBJECT_PATH,
  noPeerObjectPath: DEFAULT_NOPEER_OBJECT_PATH,
  pinRoot: PIN_ROOT,
};

const ROUTER_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/**
 * Stateless floating IPs in eBPF: tc programs on the router's gateway and internal devices translate with
 * hash-map lookups; maps and programs are pinned per router under /sys/fs/bpf/sfip/<routerId>/ and outlive the
 * agent, so a restarted agent reads them back, finds nothing to do and never detaches a program. See
 * docs/ebpf.md.
 */
export class EbpfDataplane implements Dataplane<EbpfActualRouter> {
  readonly name = 'ebpf' as const;
  private readonly options: EbpfOptions;
  /** Probed once: the kernel does not change under a running agent. */
  private support: Promise<FastPathSupport> | null = null;
  /** The long-lived loader, for the agent's own runner only: a test's runner sees every bpftool it asked for. */
  private readonly loader: KernelLoader | null;
  /** The namespaces' long-lived ip processes, read through; the same condition. */
  private readonly channels: NetnsChannels | null;
  /** Maps that applies wrote, kept open for the next delta of their router (open-maps.ts). */
  private readonly openMaps = new RouterMaps();
  /** What each successful apply reported of its generation, for stateAfterApply; gone with its plan. */
  private readonly applied = new WeakMap<BackendPlan, AppliedGeneration>();

  constructor(
    private readonly run: Runner = defaultRun,
    options: Partial<EbpfOptions> = {},
  ) {
    this.options = { ...DEFAULT_EBPF_OPTIONS, ...options };
    this.loader = run === defaultRun ? defaultLoader() : null;
    this.channels = run === defaultRun ? sharedChannels : null;
    for (const [name, value] of [
      ['capacity', this.options.capacity],
      ['minCapacity', this.options.minCapacity],
    ] as const) {
      if (!Number.isInteger(value) || value < 1) {
        throw new Error(`eBPF map ${name} ${value} is invalid: expected a positive integer`);
      }
    }
    const { untrackMark, hairpinMark } = this.options;
    for (const [name, bit] of [
      ['untrackMark', untrackMark],
      ['hairpinMark', hairpinMark],
    ] as const) {
      if (!Number.isInteger(bit) || bit <= 0 || bit > 0xffffffff || (bit & (bit - 1)) !== 0) {
        throw new Error(`eBPF ${name} 0x${bit.toString(16)} is invalid: expected a single mark bit`);
      }
    }
    if (untrackMark === hairpinMark)
      throw new Error('eBPF untrackMark and hairpinMark must be different bits');
  }

  async check(options: CheckOptions = {}): Promise<CapabilityCheck[]> {
    const objectPath = await this.objectPath();
    const bpffs = await checkBpffs();
    const object = await checkObject(objectPath);
    return [
      await checkTool(this.run, 'bpftool', ['version'], 'bpftool (Debian package bpftool)'),
      await checkTool(this.run, 'tc', ['-V'], 'tc (Debian package iproute2)'),
      await checkTool(this.run, 'nft', ['--version'], 'nftables userspace, for untrack and shared SNAT'),
      await checkTool(this.run, 'nsenter', ['--version'], 'nsenter (Debian package util-linux)'),
      ...kernelOptionChecks([
        ['CONFIG_BPF_SYSCALL', 'BPF'],
        ['CONFIG_NET_CLS_BPF', 'tc BPF programs'],
        ['CONFIG_DEBUG_INFO_BTF', 'BTF'],
      ]),
      bpffs,
      object,
      // Never fails the backend: without the fast path every packet takes the tc path, as before it existed.
      { name: 'eBPF fast path', ok: true, detail: (await this.fastPath()).detail },
      { name: 'bpf npm package', ...bpfPackageVersion() },
      // This kernel's verifier must accept the programs: only loading them proves it.
      ...(options.probe && bpffs.ok && object.ok
        ? [await probeProgramLoad(this.run, objectPath, this.options.pinRoot)]
        : []),
    ];
  }

  /** Whether this kernel runs the fast path, and why not; what `sfip doctor` and router status report. */
  fastPath(): Promise<FastPathSupport> {
    this.support ??= probeFastPath(this.run);
    return this.support;
  }

  /** A router that wants the fast path on a kernel that cannot run it is told so in its status. */
  async routerNote(desired: DesiredRouter): Promise<string> {
    if (desired.fastPath === false) return '';
    const support = await this.fastPath();
    return support.available ? '' : `fast path ${support.detail}`;
  }

  /**
   * The object this kernel loads: with the fast path where its helpers exist (and bpf_redirect_peer into veth
   * peers where that exists too), the tc-only build otherwise.
   */
  private async objectPath(): Promise<string> {
    const support = await this.fastPath();
    if (!support.available) return this.options.tcObjectPath;
    return support.redirectPeer ? this.options.objectPath : this.options.noPeerObjectPath;
  }

  async read(target: RouterTarget, desired?: DesiredRouter): Promise<EbpfActualRouter> {
    const object = await loadObject(await this.objectPath());
    const actual = await readRouter(target, desired, {
      fastPathAvailable: (await this.fastPath()).available,
      run: this.run,
      channels: this.channels,
      loader: this.loader,
      object,
      routerDir: this.routerDir(target.routerId),
    });
    if (!desired) return actual;
    // The structure matches when nothing but map entries and addresses would change.
    const s = structureChanges(desired, actual, this.settings(desired.routerId));
    // Forwardings are structure too (the agent sends any change of them through a full read).
    const forward = forwardingEntries(desired.forwardings ?? []);
    const structureMatches =
      !s.build &&
      !s.configChanged &&
      s.nft === null &&
      s.tc === null &&
      s.dropGenerations.length === 0 &&
      s.peers.remove.length + s.peers.set.length === 0 &&
      sameEntries(actual.ebpf.forwardIn, forward.inbound) &&
      sameEntries(actual.ebpf.forwardOut, forward.outbound);
    return { ...actual, structureMatches };
  }

  plan(desired: DesiredRouter, actual: EbpfActualRouter): BackendPlan {
    return planEbpf(desired, actual, this.settings(desired.routerId));
  }

  /**
   * Map entry changes only, against the trusted structure; capacity is checked on the router's full count. A
   * delta that the live generation's maps cannot hold (or that leaves them far too big) needs a new generation,
   * which only a full pass builds (it fills the maps with every mapping): undefined sends the router there.
   */
  planDelta(delta: MappingDelta<EbpfActualRouter>): BackendPlan | undefined {
    if (delta.installed > this.options.capacity) {
      const last = delta.desired.mappings[delta.desired.mappings.length - 1];
      throw new Error(
        `Floating IP ${last?.floatingIp ?? '?'} (fixed IP ${last?.fixedIp ?? '?'}) does not fit: the eBPF maps of router ${delta.desired.routerId} hold at most ${this.options.capacity} floating IPs`,
      );
    }
    const settings = this.settings(delta.desired.routerId);
    const needed = entriesNeeded(delta.installed, delta.desired.forwardings);
    const target = targetGeneration(delta.before.ebpf, needed, settings);
    if (target.name !== delta.before.ebpf.live) return undefined;
    return planEbpf(delta.desired, delta.before, settings, needed);
  }

  async apply(plan: BackendPlan): Promise<void> {
    const applied = await applyEbpf(plan, {
      run: this.run,
      objectPath: await this.objectPath(),
      routerDir: this.routerDir(plan.target.routerId),
      loader: this.loader,
      maps: this.openMaps,
    });
    if (applied) this.applied.set(plan, applied);
  }

  /**
   * The state after a successful apply of `plan`, from the read it was planned from and the program ids the apply
   * reported (after-apply.ts): the router's record is trusted at once, without reading its hooks, table and maps
   * again (two processes per router after a converge). Undefined when the apply vouched for nothing.
   */
  stateAfterApply(
    plan: BackendPlan,
    before: EbpfActualRouter,
    desired: DesiredRouter,
  ): EbpfActualRouter | undefined {
    const applied = this.applied.get(plan);
    return applied && stateAfterApply(before, desired, applied, this.settings(desired.routerId));
  }

  async remove(target: RouterTarget): Promise<void> {
    const routerDir = this.routerDir(target.routerId);
    // Detach first: nothing may run a program whose maps are about to go, or translate without untracking.
    const ids = new Set<number>();
    for (const name of await listGenerations(routerDir)) {
      const dir = `${routerDir}/${name}`;
      const pinned = await readdir(generationPaths(dir).programsDir).catch(() => [] as string[]);
      const present = PROGRAM_NAMES.filter((p) => pinned.includes(p));
      for (const id of pinnedProgramIds(dir, present).values()) ids.add(id);
    }
    try {
      await this.detach(target, ids);
    } catch (error) {
      // The namespace went while we detached (a lab torn down under the agent): its filters and table went with
      // it, and the pins below are all that is left. Anything else leaves the pins, so a retry can still find
      // the programs to detach.
      if (!isNamespaceGone(error)) throw error;
    }
    this.openMaps.forget(routerDir);
    await rm(routerDir, { recursive: true, force: true });
  }

  /** Detaches this router's programs from every hook in its namespace and deletes its nft table. */
  private async detach(target: RouterTarget, ids: ReadonlySet<number>): Promise<void> {
    // An empty list when the namespace is gone: every filter in it went with it.
    const devices = await this.run('ip', ['-j', 'address', 'show'], { netns: target.namespace }).then(
      ({ stdout }) => deviceNames(stdout),
      () => [] as string[],
    );
    const hooks = await readHooks(this.run, target.namespace, devices, this.loader);
    const lines: string[] = [];
    for (const h of hooks) {
      const mine = h.attachments.filter((a) => ids.has(a.programId) || a.device === target.gatewayDevice);
      for (const a of mine) {
        lines.push(`filter del dev ${a.device} ${a.direction} prio ${TC_PRIORITY} handle ${TC_HANDLE} bpf`);
      }
      // An empty clsact that sfip's filters needed goes too; one holding anybody else's filters stays.
      if (mine.length > 0 && mine.length === h.attachments.length && h.foreignFilters === 0) {
        lines.push(`qdisc del dev ${h.device} clsact`);
      }
    }
    if (lines.length > 0) {
      await runInNetns(this.run, target.namespace, 'tc', ['-batch', '-'], { input: lines.join('\n') + '\n' });
    }
    if (devices.length > 0) {
      await this.run('nft', ['-f', '-'], {
        netns: target.namespace,
        input: renderDeleteTable(target.routerId),
      });
    }
  }

  async prune(keep: ReadonlySet<string>): Promise<string[]> {
    const pruned = await prunePins(this.run, this.options.pinRoot, keep);
    for (const routerId of pruned) this.openMaps.forget(this.routerDir(routerId));
    this.openMaps.sweep();
    return pruned;
  }

  async owned(namespace: string | null): Promise<string[]> {
    const { stdout } = await this.run('nft', ['-j', 'list', 'tables', 'ip'], { netns: namespace });
    const objects = (JSON.parse(stdout) as { nftables?: { table?: { name: string } }[] }).nftables ?? [];
    return objects.flatMap((o) => (o.table ? (routerIdOfTable(o.table.name) ?? []) : []));
  }

  /**
   * Per-floating-IP packet and byte counters of the router's current generation, summed over CPUs. A floating
   * IP that has seen no packet yet has no entry (the programs create it on the first packet).
   */
  async counters(target: RouterTarget): Promise<FloatingIpCounters[]> {
    const routerDir = this.routerDir(target.routerId);
    const object = await loadObject(await this.objectPath());
    const dir = `${routerDir}/${await currentGeneration(routerDir, object)}`;
    const perFip = readCounters(generationPaths(dir).map('counters'));
    return [...perFip]
      .map(([floatingIp, c]) => ({
        floatingIp,
        packetsIn: Number(c.inPackets),
        bytesIn: Number(c.inBytes),
        packetsOut: Number(c.outPackets),
        bytesOut: Number(c.outBytes),
      }))
      .sort((a, b) => (a.floatingIp < b.floatingIp ? -1 : a.floatingIp > b.floatingIp ? 1 : 0));
  }

  private routerDir(routerId: string): string {
    if (!ROUTER_ID.test(routerId)) throw new Error(`'${routerId}' is not a valid router id for a bpffs path`);
    return routerPinDir(this.options.pinRoot, routerId);
  }

  private settings(routerId: string): PlanSettings {
    return {
      capacity: this.options.capacity,
      minCapacity: this.options.minCapacity,
      untrackMark: this.options.untrackMark,
      hairpinMark: this.options.hairpinMark,
      routerDir: this.routerDir(routerId),
    };
  }
}

function sameEntries(
  have: ReadonlyMap<string, string> | undefined,
  want: ReadonlyMap<string, string>,
): boolean {
  if ((have?.size ?? 0) !== want.size) return false;
  for (const [k, v] of want) if (have?.get(k) !== v) return false;
  return true;
}
