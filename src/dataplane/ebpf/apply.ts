import { mkdir, rm } from 'node:fs/promises';
import type { Runner } from '../../exec/run.js';
import type { BackendPlan } from '../types.js';
import type { AppliedGeneration } from './after-apply.js';
import { bpftoolBuilder } from './bpftool.js';
import type { KernelLoader } from './loader.js';
import { PROGRAM_NAMES, type MapName } from './layout.js';
import {
  changeAddressMap,
  changeEntries,
  changeMap,
  PF_KEY,
  PF_VALUE,
  QOS_VALUE,
  ADDRESS,
  MAC_VALUE,
  writeValue,
  type PinnedMap,
} from './maps.js';
import { runInNetns } from './netns.js';
import { ifindexBytes } from './peer-devices.js';
import { generationName, loadObject } from './object.js';
import type { RouterMaps } from './open-maps.js';
import { pinnedProgramIds } from './program-ids.js';
import type { EbpfBatch } from './state.js';
import { addressBytes, encodeConfig, netKey } from './values.js';

export interface ApplyContext {
  readonly run: Runner;
  readonly objectPath: string;
  readonly routerDir: string;
  /** Builds new generations and attaches them; null: bpftool and tc through `run`. */
  readonly loader: KernelLoader | null;
  /** The backend's maps kept open between applies (open-maps.ts). */
  readonly maps: RouterMaps;
}

/**
 * Runs a plan: at most one bpftool batch for maps and one program load, map entries in batch syscalls, one
 * `nft -f`, one `tc -batch`. Order matters for packets:
 *  1. a new generation is built completely (programs verified, maps filled) before anything points at it; a
 *     program the verifier refuses throws here, and the attached generation keeps running untouched;
 *  2. the nft table (untrack, shared SNAT) exists before programs that rely on it are attached;
 *  3. tc swaps programs atomically per hook;
 *  4. old generations are unpinned only after nothing runs them.
 * Floating addresses come after, from the router layer (router-dataplane.ts). Returns what the kernel reported of
 * the generation left carrying the router (after-apply.ts); null when the plan changed nothing.
 */
export async function applyEbpf(plan: BackendPlan, context: ApplyContext): Promise<AppliedGeneration | null> {
  const { run } = context;
  const target = plan.target;
  if (plan.batch !== null) {
    const batch = JSON.parse(plan.batch) as EbpfBatch;
    const generation =
      batch.generation ?? generationName(await loadObject(context.objectPath), batch.capacity);
    const genDir = `${context.routerDir}/${generation}`;
    if (batch.build) {
      const builder = context.loader ?? bpftoolBuilder(run);
      await buildGeneration(builder, genDir, batch.capacity, context.objectPath);
    }
    writeEntries(context.maps.forApply(context.routerDir, genDir), batch);
    if (batch.nft !== null) await run('nft', ['-f', '-'], { netns: target.namespace, input: batch.nft });
    if (batch.tc !== null) {
      if (context.loader) await context.loader.tcBatch(target.namespace, batch.tc);
      else await runInNetns(run, target.namespace, 'tc', ['-batch', '-'], { input: batch.tc });
    }
    for (const old of batch.dropGenerations) {
      await rm(`${context.routerDir}/${old}`, { recursive: true, force: true });
    }
    return {
      name: generation,
      batch: { build: batch.build, capacity: batch.capacity, config: batch.config, nft: batch.nft },
      // From the pins, once the apply is in (a build's programs have ids only once loaded; two syscalls per
      // program, no process), and only when asked: a delta never asks (its record carries the ids it had), and
      // reading them after each one was 0.18 s of a 5.9 s fill of 5,000 floating IPs over 100 routers.
      programIds: once(() => Object.fromEntries(pinnedProgramIds(genDir, PROGRAM_NAMES))),
      // No tc batch: the read found every wanted filter running these ids already.
      attachmentsConfirmed: batch.tc === null || context.loader !== null,
    };
  }
  return null;
}

/** `read` on the first call, its answer on every later one. */
function once<T>(read: () => T): () => T {
  let value: { readonly v: T } | undefined;
  return () => (value ??= { v: read() }).v;
}

async function buildGeneration(
  builder: Pick<KernelLoader, 'createMaps' | 'loadPrograms'>,
  genDir: string,
  capacity: number,
  objectPath: string,
) {
  // A half-built generation (an earlier failure) is never attached: start it again from nothing.
  await rm(genDir, { recursive: true, force: true });
  await mkdir(genDir, { recursive: true });
  try {
    await builder.createMaps(genDir, capacity);
    await builder.loadPrograms(genDir, objectPath);
  } catch (error) {
    await rm(genDir, { recursive: true, force: true });
    throw error;
  }
}

function writeEntries(maps: Map<MapName, PinnedMap>, batch: EbpfBatch): void {
  const fixedOf = new Map(batch.inbound.set);
  const floatingOf = new Map(batch.outbound.set.map(([fixed, fip]) => [fixed, fip]));
  if (batch.config) writeValue(maps.get('config')!, Buffer.alloc(4), encodeConfig(batch.config));
  // Inbound first: a floating IP starts translating before its fixed IP starts leaving as it.
  changeAddressMap(
    maps.get('fip2fixed')!,
    batch.inbound,
    (fip) => `Floating IP ${fip} (fixed IP ${fixedOf.get(fip)})`,
  );
  changeAddressMap(
    maps.get('fixed2fip')!,
    batch.outbound,
    (fixed) => `Floating IP ${floatingOf.get(fixed)} (fixed IP ${fixed})`,
  );
  // Port forwarding, inbound first for the same reason.
  const forwarding = (key: string, value: string) => `Port forwarding ${key} -> ${value}`;
  changeMap(maps.get('pf_in')!, batch.forwardIn, forwarding, PF_KEY, PF_VALUE);
  changeMap(maps.get('pf_out')!, batch.forwardOut, forwarding, PF_KEY, PF_VALUE);
  // A limit is one value write; its floating IP's translation is untouched.
  if (batch.qos)
    changeMap(
      maps.get('qos')!,
      batch.qos,
      (fip, key) => `QoS limits of floating IP ${fip} (${key})`,
      ADDRESS,
      QOS_VALUE,
    );
  // A hash map: batch syscalls, as the translation maps (one syscall per MAC took a while at 100,000).
  changeMap(
    maps.get('fixed_macs')!,
    batch.macs,
    (fixed, mac) => `MAC ${mac} of fixed IP ${fixed}`,
    ADDRESS,
    MAC_VALUE,
  );
  changeEntries(
    maps.get('internal_nets')!,
    batch.internalNets.set.map((cidr) => [netKey(cidr), Buffer.alloc(4)]),
    batch.internalNets.remove.map(netKey),
  );
  if (batch.peerDevices) {
    changeEntries(
      maps.get('peer_devs')!,
      batch.peerDevices.set.map((i) => [ifindexBytes(i), ifindexBytes(1)]),
      batch.peerDevices.remove.map(ifindexBytes),
    );
  }
  if (batch.removeCounters.length > 0) {
    const counters = maps.get('counters')!;
    for (const fip of batch.removeCounters) counters.raw.delete(addressBytes(fip));
  }
}
