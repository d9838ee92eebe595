import { readdir, stat } from 'node:fs/promises';
import { ExecError, type Runner } from '../../exec/run.js';
import type { NetnsChannels } from '../common/netns-channels.js';
import { parseNftTable } from '../nftables/parse.js';
import type { DesiredRouter, RouterTarget } from '../types.js';
import { deviceNames, ifindexOf, internalDevices } from './devices.js';
import { MAP_SPECS, PROGRAM_NAMES, type MapName, type ProgramName } from './layout.js';
import {
  mapMatches,
  openPinnedMap,
  PF_KEY,
  PF_VALUE,
  QOS_VALUE,
  ADDRESS,
  MAC_VALUE,
  readAddressMap,
  readEntries,
  readMap,
  readValue,
  type PinnedMap,
} from './maps.js';
import { tableName } from './nft.js';
import { generationName, isGenerationName, type BpfObject } from './object.js';
import { runInNetns } from './netns.js';
import type { KernelLoader } from './loader.js';
import { generationPaths } from './paths.js';
import { pinnedProgramIds } from './program-ids.js';
import { contentsGeneration, type EbpfActualRouter, type GenerationState } from './state.js';
import { peerIfindexes } from './peer-devices.js';
import { parseReadBatch, renderReadBatch, type DeviceHooks } from './tc.js';
import { decodeConfig, netText } from './values.js';

export interface ReadContext {
  readonly run: Runner;
  readonly object: BpfObject;
  readonly routerDir: string;
  /** The object read against has the fast path (fast-path.ts). */
  readonly fastPathAvailable: boolean;
  /** The namespaces' long-lived processes (the agent's own runner only): the devices are read through ip's. */
  readonly channels?: NetnsChannels | null;
  /** The long-lived loader (the agent's own runner only): the hooks are read through it, not a tc process. */
  readonly loader?: Pick<KernelLoader, 'hooks'> | null;
}

/** Reads everything this backend owns for a router: nft table, tc filters, pinned generations and map contents. */
export async function readRouter(
  target: RouterTarget,
  desired: DesiredRouter | undefined,
  context: ReadContext,
): Promise<EbpfActualRouter> {
  const { run } = context;
  // The nft table and the tc hooks at once: each is a process to wait for, and a round of 100 routers' reads
  // waits for them in turn. The generations (syscalls, no process) after both, as they were.
  const [nftSignature, { addressJson, hooks }] = await Promise.all([
    readNftSignature(run, target),
    (async () => {
      // -d: the devices' kinds, peers' namespaces and root qdiscs too, for the fast path's peer_devs (the ip
      // channel runs with -j -d).
      const stdout = context.channels
        ? await context.channels.ipRead(target.namespace, 'address show')
        : (await run('ip', ['-d', '-j', 'address', 'show'], { netns: target.namespace })).stdout;
      const devices = deviceNames(stdout);
      return { addressJson: stdout, hooks: await readHooks(run, target.namespace, devices, context.loader) };
    })(),
  ]);
  const internal = desired
    ? internalDevices(addressJson, desired.internalCidrs, desired.gatewayDevice)
    : hooks.filter((h) => h.device !== target.gatewayDevice && h.attachments.length > 0).map((h) => h.device);

  const generations = await readGenerations(run, context);
  const gwIngress = hooks
    .find((h) => h.device === target.gatewayDevice)
    ?.attachments.find((a) => a.direction === 'ingress')?.programId;
  const live = generations.find((g) => g.state.programIds.gw_ingress === gwIngress)?.state.name ?? null;
  // Contents come from the live generation: that is what translates packets now. The reads yield to the event
  // loop (see readMap), so the generations' fds are closed whatever happens meanwhile.
  const sourceName = contentsGeneration(
    live,
    generations.map((g) => g.state.name),
  );
  const source = generations.find((g) => g.state.name === sourceName);
  const contents = await readContents(source?.maps ?? {}).finally(() => {
    for (const g of generations) g.close();
  });

  const present =
    nftSignature !== null || generations.length > 0 || hooks.some((h) => h.attachments.length > 0);
  const actual: EbpfActualRouter = {
    present,
    structureMatches: false,
    inbound: contents.inbound,
    outbound: contents.outbound,
    macs: contents.macs,
    limits: contents.limits,
    ebpf: {
      object: context.object,
      generations: generations.map((g) => g.state),
      live,
      nftSignature,
      hooks,
      internalDevices: internal,
      gatewayIfindex: ifindexOf(addressJson, target.gatewayDevice),
      peerIfindexes: peerIfindexes(addressJson, [target.gatewayDevice, ...internal]),
      peerMap: contents.peerMap,
      fastPathAvailable: context.fastPathAvailable,
      internalNets: contents.internalNets,
      forwardIn: contents.forwardIn,
      forwardOut: contents.forwardOut,
    },
  };
  return actual;
}

/** The live generation's map contents, as text. */
async function readContents(maps: Partial<Record<MapName, PinnedMap>>) {
  const empty = () => new Map<string, string>();
  // One map after another, each yielding to the event loop between batches (see readMap).
  const inbound = maps.fip2fixed ? await readAddressMap(maps.fip2fixed) : empty();
  const outbound = maps.fixed2fip ? await readAddressMap(maps.fixed2fip) : empty();
  // A hash map: batch lookups (one entry per get-next-key and lookup took a second at 100,000).
  const macs = maps.fixed_macs ? await readMap(maps.fixed_macs, ADDRESS, MAC_VALUE) : empty();
  const internalNets = maps.internal_nets
    ? readEntries(maps.internal_nets)
        .map(([k]) => netText(k))
        .sort()
    : [];
  const forwardIn = maps.pf_in ? await readMap(maps.pf_in, PF_KEY, PF_VALUE) : empty();
  const forwardOut = maps.pf_out ? await readMap(maps.pf_out, PF_KEY, PF_VALUE) : empty();
  const limits = maps.qos ? await readMap(maps.qos, ADDRESS, QOS_VALUE) : empty();
  const peerMap = maps.peer_devs
    ? readEntries(maps.peer_devs)
        .map(([k]) => k.readUInt32LE(0))
        .sort((a, b) => a - b)
    : [];
  return { inbound, outbound, macs, internalNets, forwardIn, forwardOut, limits, peerMap };
}

async function readNftSignature(run: Runner, target: RouterTarget): Promise<string[] | null> {
  try {
    const { stdout } = await run('nft', ['-j', 'list', 'table', 'ip', tableName(target.routerId)], {
      netns: target.namespace,
    });
    return parseNftTable(stdout).signature;
  } catch (error) {
    if (error instanceof ExecError && /No such file or directory/.test(error.stderr)) return null;
    throw error;
  }
}

/** The devices' hooks: through the loader when there is one, else one `tc -j -batch` process. */
export async function readHooks(
  run: Runner,
  namespace: string | null,
  devices: readonly string[],
  loader?: Pick<KernelLoader, 'hooks'> | null,
): Promise<DeviceHooks[]> {
  if (devices.length === 0) return [];
  if (loader) return loader.hooks(namespace, devices);
  const { stdout } = await runInNetns(run, namespace, 'tc', ['-j', '-batch', '-'], {
    input: renderReadBatch(devices),
  });
  return parseReadBatch(devices, stdout);
}

interface OpenGeneration {
  readonly state: GenerationState;
  /** The generation's maps, when their layout is the one the programs expect. */
  readonly maps: Partial<Record<MapName, PinnedMap>>;
  close(): void;
}

export async function listGenerations(routerDir: string): Promise<string[]> {
  try {
    return (await readdir(routerDir)).filter(isGenerationName).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/**
 * The name of the generation the current object left for the router, from the pins alone (no tc read: the
 * counters of every router are read for each scrape): one whose name is what the object and its own maps' size
 * make. While a swap is under way two are pinned, and the newer is the one being swapped in (what the counters
 * come from from then on). Throws when there is none.
 */
export async function currentGeneration(routerDir: string, object: BpfObject): Promise<string> {
  const found: { name: string; mtimeMs: number }[] = [];
  for (const name of await listGenerations(routerDir)) {
    const dir = `${routerDir}/${name}`;
    const map = openPinnedMap(generationPaths(dir).map('fip2fixed'));
    if (!map) continue;
    const capacity = map.ref.maxEntries;
    map.close();
    if (name !== generationName(object, capacity)) continue;
    found.push({ name, mtimeMs: (await stat(dir)).mtimeMs });
  }
  const newest = found.sort((a, b) => b.mtimeMs - a.mtimeMs)[0];
  if (!newest) throw new Error(`No generation of the current eBPF object is pinned under ${routerDir}`);
  return newest.name;
}

async function readGenerations(run: Runner, context: ReadContext): Promise<OpenGeneration[]> {
  const out: OpenGeneration[] = [];
  for (const name of await listGenerations(context.routerDir)) {
    const paths = generationPaths(`${context.routerDir}/${name}`);
    const maps = new Map(MAP_SPECS.map((spec) => [spec.name, openPinnedMap(paths.map(spec.name))]));
    // A generation's capacity is whatever its maps were made with; its name says whether that is still wanted.
    const capacity = maps.get('fip2fixed')?.ref.maxEntries ?? null;
    const mapsMatch =
      capacity !== null &&
      MAP_SPECS.every((spec) => {
        const map = maps.get(spec.name);
        return map !== undefined && mapMatches(map, spec, capacity);
      });
    const files = await readdir(paths.programsDir).catch(() => [] as string[]);
    const pinned: ProgramName[] = PROGRAM_NAMES.filter((p) => files.includes(p));
    const ids = pinnedProgramIds(paths.dir, pinned);
    const configMap = maps.get('config');
    const configBytes = configMap && mapsMatch ? readValue(configMap, Buffer.alloc(4)) : undefined;
    out.push({
      state: {
        name,
        mapsMatch,
        capacity,
        programIds: Object.fromEntries(ids),
        config: configBytes ? decodeConfig(configBytes) : null,
      },
      maps: mapsMatch ? (Object.fromEntries(maps) as Partial<Record<MapName, PinnedMap>>) : {},
      close: () => maps.forEach((m) => m?.close()),
    });
  }
  return out;
}
