import { existsSync } from 'node:fs';
import { ExecError, run as defaultRun, type Runner } from '../../exec/run.js';
import { checkTool, kernelOptionChecks } from '../common/capabilities.js';
import { probeNftables } from './probe.js';
import { CHANNEL_MAX_BYTES, sharedChannels, type NetnsChannels } from '../common/netns-channels.js';
import { mappingsState } from '../router-state.js';
import type {
  BackendPlan,
  BackendState,
  CapabilityCheck,
  CheckOptions,
  Dataplane,
  DesiredRouter,
  FloatingIpCounters,
  MappingDelta,
  RouterTarget,
} from '../types.js';
import { SOURCE_MACS } from './anti-spoofing.js';
import { CounterDumps, readNftCounters } from './counters.js';
import { SET_DUMP_HELPER, SetDumpError, sharedSetDump } from '../common/set-dump-channel.js';
import { DEEP_SETS, parseDumpedElements, TRANSLATION_SETS } from './element-dump.js';
import {
  countersMatch,
  EXPECTED_MAPS,
  icmpConsistent,
  mapNames,
  parseNftTable,
  parseTableNames,
  tableObjects,
} from './parse.js';
import { FIXED_SET, FLOATING_SET, membershipMatches } from './membership.js';
import { forwardingElements, PF_EXPECTED_MAPS, PF_SET_DECLARATIONS } from './port-forwarding.js';
import { limitsFromElements, QOS_EXPECTED_SETS, QOS_SETS } from './qos.js';
import { ELEMENT_LOAD_HELPER, loadLines } from './element-load.js';
import {
  INBOUND_MAP,
  OUTBOUND_MAP,
  chainsFor,
  DEFAULT_NFT_OPTIONS,
  mappingChanges,
  renderDelta,
  renderFull,
  renderStructure,
  routerIdOfTable,
  structureSignature,
  tableName,
  type NftOptions,
} from './render.js';

/**
 * The default dataplane: one nftables table per router, with two maps (floating->fixed, fixed->floating)
 * and a fixed set of rules. Map changes are element adds and deletes; anything else rebuilds the table,
 * always in one `nft -f` transaction.
 */
/** One read in this many (per router) also checks the quoted-header maps element by element. */
const DEEP_READ_EVERY = 6;
/**
 * Which read of a router is the first deep one: the second (the first resync after start), not the first. A
 * start waits for its first read, and at 100,000 floating IPs a deep one dumps 1.1 million elements instead of
 * 500,000 (about 1.5 s more, and its parse and comparisons 0.5 s more, docs/nftables.md); what only a deep read
 * sees (a quoted-header map or counter set changed by hand) is found one resync later.
 */
const FIRST_DEEP_READ = 2;

/**
 * A plan for a router whose table does not exist: `batch` is its structure (renderStructure), and the elements of
 * `load`'s mappings follow through the element loader. See firstApply.
 */
interface NftPlan extends BackendPlan {
  readonly load?: DesiredRouter;
}

export class NftablesDataplane implements Dataplane {
  readonly name = 'nftables' as const;
  private readonly reads = new Map<string, number>();
  /**
   * Per router: applies started, and applies running. A read compares sets dumped one after another (the
   * membership sets, and in a deep read the quoted-header maps and counter sets, against the translation maps); a
   * delta that lands between two dumps (the agent lets deltas run beside a resync's read) makes them disagree,
   * and a 100,000-element table was rebuilt for nothing in the middle of a churn (p99 5 s). See read.
   */
  private readonly applying = new Map<string, { started: number; running: number }>();
  /** Routers whose last read found limited floating IPs: their quick reads list the QoS sets. */
  private readonly limited = new Set<string>();
  /** Each router's last counter dump, so an unchanged one is not parsed again (see CounterDumps). */
  private readonly dumps = new CounterDumps();

  /** Long-lived nft and ip processes per namespace for deltas; only with the real runner (tests inject theirs). */
  private readonly channels: NetnsChannels | null;
  /** The compiled element dumper for quick reads; only with the real runner, and only once built. */
  private readonly elementDump: string | null;
  /** The compiled element loader for first applies (element-load.ts); the same conditions. */
  private readonly elementLoad: string | null;

  constructor(
    private readonly run: Runner = defaultRun,
    private readonly options: NftOptions = DEFAULT_NFT_OPTIONS,
    channels?: NetnsChannels | null,
    /** `helper`: the element loader's path, null for none; absent: the built one, with the real runner only. */
    loader?: { readonly helper?: string | null; readonly warn?: (message: string) => void },
  ) {
    this.channels = channels !== undefined ? channels : run === defaultRun ? sharedChannels : null;
    this.elementDump = run === defaultRun && existsSync(SET_DUMP_HELPER) ? SET_DUMP_HELPER : null;
    this.elementLoad =
      loader?.helper !== undefined
        ? loader.helper
        : run === defaultRun && existsSync(ELEMENT_LOAD_HELPER)
          ? ELEMENT_LOAD_HELPER
          : null;
    this.warn = loader?.warn ?? ((message) => process.emitWarning(message, 'SfipNftablesWarning'));
  }

  /** Where a first apply's loader failure is told (the fallback succeeds, so nothing else reports it). */
  private readonly warn: (message: string) => void;

  async check(options: CheckOptions = {}): Promise<CapabilityCheck[]> {
    return [
      await checkTool(this.run, 'nft', ['--version'], 'nftables userspace (Debian package nftables)'),
      await checkTool(this.run, 'conntrack', ['--version'], 'conntrack-tools, for stale-entry cleanup'),
      ...kernelOptionChecks([
        ['CONFIG_NF_TABLES', 'nftables'],
        ['CONFIG_NFT_NAT', 'shared SNAT'],
        ['CONFIG_NFT_CT', 'notrack and ct matches'],
      ]),
      ...(options.probe ? [await probeNftables(this.run, `sfip-probe-nft-${process.pid}`)] : []),
    ];
  }

  /**
   * The element lines of `sets`, through the agent's one long-lived dumper (it enters the namespace itself), or a
   * dumper process of its own when that is not there: a process per read was one per router at every start and
   * resync round, forked from the daemon's event loop. Undefined when the table is gone since its listing.
   */
  private async dumpElements(
    helper: string,
    namespace: string | null,
    table: string,
    sets: readonly string[],
  ): Promise<string | undefined> {
    const channel = sharedSetDump();
    if (!channel) return (await this.run(helper, [table, ...sets], { netns: namespace })).stdout;
    try {
      return await channel.dump(namespace, table, sets);
    } catch (error) {
      if (error instanceof SetDumpError && error.code === 2) return undefined;
      throw error;
    }
  }

  async read(target: RouterTarget, desired?: DesiredRouter): Promise<BackendState> {
    const table = tableName(target.routerId);
    // Listing a table lists every element of all six maps; at 100,000 floating IPs that costs seconds. Most
    // reads list the table without elements (-t) plus the two translation maps; every DEEP_READ_EVERY-th read
    // of a router (from its second) lists everything, including the quoted-header maps and the counter sets.
    const reads = (this.reads.get(target.routerId) ?? 0) + 1;
    this.reads.set(target.routerId, reads);
    let deep = reads % DEEP_READ_EVERY === FIRST_DEEP_READ;
    const applying = this.applyingOn(target.routerId);
    const startedBefore = applying.started;
    const runningBefore = applying.running;
    const list = (args: string[]) =>
      this.run('nft', ['-j', ...args], { netns: target.namespace }).then((r) => r.stdout);
    const absent = (): BackendState => ({
      present: false,
      structureMatches: false,
      inbound: new Map(),
      outbound: new Map(),
      macs: new Map(),
      limits: new Map(),
    });
    // The table's structure without elements. `nft -t list table` still fetches every element from the kernel
    // and only skips printing them (9 s at 100,000 floating IPs, nft 1.0.6); a terse listing of the family's
    // ruleset fetches none (11 ms), and the other tables' objects are dropped here.
    const terseListing = async () => tableObjects(await list(['-t', 'list', 'ruleset', 'ip']), table);
    let state;
    try {
      if (this.elementDump) {
        // The structure from nft (no elements), the elements straight from the kernel: at 100,000 floating IPs
        // `nft -j` of the sets costs seconds of CPU and hundreds of MB of heap, the dump milliseconds. A deep read
        // dumps the quoted-header maps and counter sets too; only port-forwarding maps (few elements, concatenated
        // keys the dumper does not print) are listed by nft.
        const terseJson = await terseListing();
        if (terseJson === undefined) return absent();
        const terse = parseNftTable(terseJson);
        const sets = deep ? DEEP_SETS : TRANSLATION_SETS;
        const dumped = await this.dumpElements(this.elementDump, target.namespace, table, sets);
        if (dumped === undefined) return absent();
        const elements = await parseDumpedElements(dumped, sets);
        const forwardingMaps = deep ? mapNames(terse.maps).filter((m) => m.startsWith('pf_')) : [];
        const withForwardings =
          forwardingMaps.length > 0
            ? parseNftTable(
                terseJson,
                ...(await Promise.all(
                  forwardingMaps.map((m) => list(['list', PF_SETS.has(m) ? 'set' : 'map', 'ip', table, m])),
                )),
              )
            : terse;
        state = {
          ...withForwardings,
          ...elements,
          icmpConsistent: deep && icmpConsistent(elements.raw, elements.inbound, elements.outbound),
        };
      } else if (deep) state = parseNftTable(await list(['list', 'table', 'ip', table]));
      else {
        const terseJson = await terseListing();
        if (terseJson === undefined) return absent();
        state = parseNftTable(
          terseJson,
          await list(['list', 'map', 'ip', table, INBOUND_MAP]),
          await list(['list', 'map', 'ip', table, OUTBOUND_MAP]),
          await list(['list', 'set', 'ip', table, SOURCE_MACS]),
          await list(['list', 'set', 'ip', table, FLOATING_SET]),
          await list(['list', 'set', 'ip', table, FIXED_SET]),
        );
      }
    } catch (error) {
      if (error instanceof ExecError && /No such file or directory/.test(error.stderr)) return absent();
      throw error;
    }
    const expected = desired ? structureSignature(chainsFor(desired, this.options)) : [];
    const forwarded = (desired?.forwardings ?? []).length > 0;
    const expectedMaps = new Set([
      ...EXPECTED_MAPS,
      ...QOS_EXPECTED_SETS,
      ...(forwarded ? PF_EXPECTED_MAPS : []),
    ]);
    // A terse listing has no elements: a quick read lists the four QoS sets (they hold only the limited floating
    // IPs) when the router has or had limits; one that never had any skips the four nft runs, and a limit added
    // there by hand is seen by the next deep read.
    const listLimits =
      deep || this.limited.has(target.routerId) || (desired?.mappings ?? []).some((m) => m.limits);
    // Only a full `nft -j` listing (no dumper) holds the QoS sets' elements already.
    const limitElements = !listLimits
      ? new Map()
      : deep && !this.elementDump
        ? state.limitElements
        : new Map(
            (
              await Promise.all(
                QOS_SETS.map((s) => list(['list', 'set', 'ip', table, s.name]).catch(() => '{}')),
              )
            ).flatMap((json) => [...parseNftTable(json).limitElements]),
          );
    const limits = limitsFromElements(limitElements);
    if (limits.size > 0) this.limited.add(target.routerId);
    else this.limited.delete(target.routerId);
    // The sets are dumped one after another: with an apply in between, they disagree with each other for no fault
    // of the kernel's. Such a read checks only the table's shape (the mappings themselves are compared by the
    // caller, which counts in what landed meanwhile); a deep read is left to the next read.
    const overlapped = runningBefore > 0 || applying.running > 0 || applying.started !== startedBefore;
    if (overlapped && deep) {
      deep = false;
      this.reads.set(target.routerId, reads - 1);
    }
    const structureMatches =
      desired !== undefined &&
      (overlapped || membershipMatches(state.inbound, state.outbound, state.counted)) &&
      sameList(state.signature, expected) &&
      (!deep ||
        (state.icmpConsistent && countersMatch(state) && forwardingsMatch(state.forwardings, desired))) &&
      state.maps.size === expectedMaps.size &&
      [...state.maps].every((m) => expectedMaps.has(m));
    return {
      present: true,
      structureMatches,
      inbound: state.inbound,
      outbound: state.outbound,
      macs: state.macs,
      limits,
      ...(overlapped && { mayLackElements: true }),
    };
  }

  plan(desired: DesiredRouter, actual: BackendState): NftPlan {
    if (!actual.present && this.elementLoad && desired.mappings.length > 0) {
      return {
        target: desired,
        batch: renderStructure(desired, this.options),
        rebuild: true,
        load: desired,
        ...mappingChanges(desired, actual.inbound),
      };
    }
    if (!actual.present || !actual.structureMatches) {
      return {
        target: desired,
        batch: renderFull(desired, this.options),
        rebuild: true,
        ...mappingChanges(desired, actual.inbound),
      };
    }
    const delta = renderDelta(desired, actual.inbound, actual.outbound, actual.macs, actual.limits);
    return { target: desired, batch: delta.text, rebuild: false, added: delta.added, removed: delta.removed };
  }

  /** Element adds and deletes only: the table's structure is as last applied, so no read is needed. */
  planDelta(delta: MappingDelta): BackendPlan {
    return this.plan(delta.desired, delta.before);
  }

  /** A rebuilt table holds exactly what renderFull rendered. */
  stateAfterRebuild(desired: DesiredRouter): BackendState {
    return {
      present: true,
      structureMatches: true,
      ...mappingsState(desired.mappings, { macs: new Map(), limits: new Map() }),
    };
  }

  async apply(plan: NftPlan): Promise<void> {
    // Limits written between reads: the router's quick reads must list the QoS sets from now on.
    if (plan.batch?.includes(' qos_')) this.limited.add(plan.target.routerId);
    if (plan.batch === null) return;
    const applying = this.applyingOn(plan.target.routerId);
    applying.started++;
    applying.running++;
    try {
      // A delta (element adds and deletes, one statement per line) goes through the namespace's long-lived nft
      // process: no process start on the hot path. Rebuilds and bulk changes run `nft -f` as one file.
      if (plan.load && this.elementLoad) await this.firstApply(plan.batch, plan.load, this.elementLoad);
      else if (this.channels && !plan.rebuild && plan.batch.length <= CHANNEL_MAX_BYTES)
        await this.channels.nft(plan.target.namespace, plan.batch);
      else await this.run('nft', ['-f', '-'], { netns: plan.target.namespace, input: plan.batch });
    } finally {
      applying.running--;
    }
  }

  /**
   * A router's table that did not exist: its structure (one nft transaction that fails if the table appeared
   * meanwhile), then the per-floating-IP elements through the loader, without nft's parser (about 3 s less at
   * 100,000 floating IPs). Nothing translates through the new table before its elements are in, and the apply,
   * hence every ACTIVE status, waits for them. Splitting is safe only here: a table that exists carries traffic,
   * and is rebuilt in one transaction. Any failure falls back to that one transaction (renderFull deletes the
   * table first), so a loader failure leaves no half-loaded table behind.
   */
  private async firstApply(structure: string, desired: DesiredRouter, loader: string): Promise<void> {
    const netns = desired.namespace;
    try {
      await this.run('nft', ['-f', '-'], { netns, input: structure });
      await this.run(loader, [tableName(desired.routerId)], { netns, input: loadLines(desired.mappings) });
      return;
    } catch (error) {
      this.warn(
        `Router ${desired.routerId}: its first nftables apply through the element loader failed, applying the ` +
          `whole table in one nft transaction instead: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    await this.run('nft', ['-f', '-'], { netns, input: renderFull(desired, this.options) });
  }

  private applyingOn(routerId: string): { started: number; running: number } {
    let applying = this.applying.get(routerId);
    if (!applying) this.applying.set(routerId, (applying = { started: 0, running: 0 }));
    return applying;
  }

  async remove(target: RouterTarget): Promise<void> {
    this.dumps.forget(target.routerId);
    this.applying.delete(target.routerId);
    const table = tableName(target.routerId);
    await this.run('nft', ['-f', '-'], {
      netns: target.namespace,
      input: `add table ip ${table}\ndelete table ip ${table}\n`,
    });
  }

  counters(target: RouterTarget): Promise<FloatingIpCounters[]> {
    // Through the agent's long-lived dumper (counters are read for every router on each scrape).
    return readNftCounters(
      target,
      this.run,
      undefined,
      this.elementDump ? sharedSetDump() : null,
      this.dumps,
    );
  }

  async owned(namespace: string | null): Promise<string[]> {
    const { stdout } = await this.run('nft', ['-j', 'list', 'tables', 'ip'], { netns: namespace });
    return parseTableNames(stdout).flatMap((name) => routerIdOfTable(name) ?? []);
  }
}

const PF_SETS = new Set(PF_SET_DECLARATIONS.map(([name]) => name));

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A deep read: the port-forwarding maps hold exactly what the forwardings render (their rules carry only a digest). */
function forwardingsMatch(read: ReadonlyMap<string, string[]>, desired: DesiredRouter): boolean {
  const want = forwardingElements(desired.forwardings ?? []);
  if ((desired.forwardings ?? []).length === 0) return read.size === 0;
  return [...want].every(([name, elements]) => {
    const got = read.get(name) ?? [];
    const set = new Set(elements);
    return got.length === set.size && got.every((e) => set.has(e));
  });
}
