import type { DesiredRouter } from '../types.js';
import { forwardingEntries } from './forwarding.js';
import { PROGRAM_NAMES, programFor, type ProgramName, type TcDirection } from './layout.js';
import { nftSignature } from './nft.js';
import type { PlanSettings } from './plan.js';
import type { EbpfActualRouter, EbpfBatch, GenerationState } from './state.js';
import type { Attachment, DeviceHooks } from './tc.js';
import { netKey, netText } from './values.js';

/**
 * What an apply found out from the kernel about the generation it left carrying the router: the ids of the
 * programs pinned in it, read from the pins after the apply when first asked (program-ids.ts), and whether its tc
 * filters went through the loader, which fails unless the kernel's echo of each filter names that very program
 * (native/bpf-load.c). Without the loader (tc and bpftool processes) nothing confirmed the attachments.
 */
export interface AppliedGeneration {
  readonly name: string;
  /** What of the batch the state after it depends on (the batch's text is megabytes at 100,000: not parsed again). */
  readonly batch: Pick<EbpfBatch, 'build' | 'capacity' | 'config' | 'nft'>;
  /** Read at the first call, then kept: only stateAfterApply asks, a delta's apply never. */
  readonly programIds: () => Partial<Record<ProgramName, number>>;
  readonly attachmentsConfirmed: boolean;
}

const DIRECTIONS: readonly TcDirection[] = ['ingress', 'egress'];

/**
 * Pure: the backend's state right after the batch `applied` reports on (planned from the read `before`) was
 * applied, or undefined when only a read can tell. Everything in it is either the read's (devices, foreign
 * filters, the object), what the apply wrote whole (config, internal subnets, forwardings, peer devices, the nft
 * table: each replaced entirely, never merged with what was there), or what the kernel reported of the apply
 * (program ids). The mappings' maps are left empty: the router layer fills them (stateAfterRebuild's contract).
 * After a converge this saves reading every router again before its record is trusted (a tc and an nft process
 * each, and its maps).
 */
export function stateAfterApply(
  before: EbpfActualRouter,
  desired: DesiredRouter,
  applied: AppliedGeneration,
  settings: PlanSettings,
): EbpfActualRouter | undefined {
  if (!applied.attachmentsConfirmed) return undefined;
  const state = before.ebpf;
  const batch = applied.batch;
  const programIds = applied.programIds();
  if (PROGRAM_NAMES.some((p) => programIds[p] === undefined)) return undefined;
  const kept = state.generations.find((g) => g.name === applied.name);
  // A generation kept (not built) still has the config the read found unless the batch wrote a new one.
  const config = batch.config ?? kept?.config ?? null;
  if (!batch.build && (!kept || !kept.mapsMatch)) return undefined;
  const generation: GenerationState = {
    name: applied.name,
    // A build creates every map with MAP_SPECS' layout at the batch's capacity.
    mapsMatch: true,
    capacity: batch.capacity,
    programIds,
    config,
  };
  const wanted = new Map<string, Attachment[]>();
  const attach = (device: string, role: 'gateway' | 'internal') =>
    wanted.set(
      device,
      DIRECTIONS.map((direction) => ({
        device,
        direction,
        programId: programIds[programFor(role, direction)]!,
      })),
    );
  for (const device of state.internalDevices) attach(device, 'internal');
  attach(desired.gatewayDevice, 'gateway');
  // Every wanted device was in the read (the tc batch found it there); one that was not is a doubt.
  if ([...wanted.keys()].some((d) => !state.hooks.some((h) => h.device === d))) return undefined;
  const hooks: DeviceHooks[] = state.hooks.map((h) => {
    const attachments = wanted.get(h.device) ?? [];
    // clsact was added where it was missing (renderAttachBatch); filters that were not wanted were deleted.
    return { ...h, hasClsact: h.hasClsact || attachments.length > 0, attachments };
  });
  const forward = forwardingEntries(desired.forwardings ?? []);
  return {
    ...before,
    present: true,
    structureMatches: true,
    inbound: new Map(),
    outbound: new Map(),
    macs: new Map(),
    limits: new Map(),
    ebpf: {
      ...state,
      // Every other generation is dropped by the batch (structureChanges).
      generations: [generation],
      live: applied.name,
      nftSignature: batch.nft === null ? state.nftSignature : nftSignature(desired, settings),
      hooks,
      // The map the batch left: the devices that qualified in the read, as structureChanges made it.
      peerMap: [...(state.peerIfindexes ?? [])].sort((a, b) => a - b),
      // As the read prints them: the LPM keys' text, sorted.
      internalNets: [...new Set(desired.internalCidrs.map((c) => netText(netKey(c))))].sort(),
      forwardIn: forward.inbound,
      forwardOut: forward.outbound,
    },
  };
}
