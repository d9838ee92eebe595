/**
 * eBPF read-backs as tests need them without a kernel: a router as a finished apply leaves it, and one never
 * programmed. Shared by the planning tests of the eBPF backend.
 */
import { chosenCapacity, entriesNeeded } from '../../src/dataplane/ebpf/capacity.js';
import { nftSignature } from '../../src/dataplane/ebpf/nft.js';
import { generationName, type BpfObject } from '../../src/dataplane/ebpf/object.js';
import type { PlanSettings } from '../../src/dataplane/ebpf/plan.js';
import type { EbpfActualRouter, GenerationState } from '../../src/dataplane/ebpf/state.js';
import type { DeviceHooks } from '../../src/dataplane/ebpf/tc.js';
import type { DesiredRouter, FloatingMapping } from '../../src/dataplane/types.js';

export const object: BpfObject = { path: '/x/sfip_nat.o', digest: 'ab'.repeat(32) };
export const ids = { gw_ingress: 11, gw_egress: 12, int_ingress: 13, int_egress: 14 };
export const config = {
  gatewayIp: '203.0.113.2',
  untrackMark: 0x10000000,
  hairpinMark: 0x20000000,
  antiSpoofing: true,
  portForwarding: false,
  fastPath: true,
  gatewayIfindex: 7,
};

/** The kernel as a finished apply of `desired` leaves it (an eBPF read of it, without addresses). */
export function programmedState(
  desired: DesiredRouter,
  settings: PlanSettings,
  overrides: Partial<EbpfActualRouter['ebpf']> = {},
  mappings: readonly FloatingMapping[] = desired.mappings,
): EbpfActualRouter {
  // The size a build of `desired` chose (capacity.ts).
  const needed = entriesNeeded(desired.mappings.length, desired.forwardings);
  const capacity = chosenCapacity(needed, settings.minCapacity, settings.capacity);
  const generation = generationName(object, capacity);
  const gen: GenerationState = { name: generation, mapsMatch: true, capacity, programIds: ids, config };
  const hooks: DeviceHooks[] = [
    {
      device: 'qg-r1',
      hasClsact: true,
      foreignFilters: 0,
      attachments: [
        { device: 'qg-r1', direction: 'ingress', programId: 11 },
        { device: 'qg-r1', direction: 'egress', programId: 12 },
      ],
    },
    {
      device: 'qr-r1',
      hasClsact: true,
      foreignFilters: 0,
      attachments: [
        { device: 'qr-r1', direction: 'ingress', programId: 13 },
        { device: 'qr-r1', direction: 'egress', programId: 14 },
      ],
    },
  ];
  const actual: EbpfActualRouter = {
    present: true,
    structureMatches: true,
    inbound: new Map(mappings.map((m) => [m.floatingIp as string, m.fixedIp as string])),
    outbound: new Map(mappings.map((m) => [m.fixedIp as string, m.floatingIp as string])),
    macs: new Map(mappings.flatMap((m) => (m.fixedMac ? [[m.fixedIp as string, m.fixedMac]] : []))),
    ebpf: {
      object,
      generations: [gen],
      live: generation,
      nftSignature: nftSignature(desired, settings),
      hooks,
      internalDevices: ['qr-r1'],
      gatewayIfindex: 7,
      peerIfindexes: [7, 8],
      peerMap: [7, 8],
      fastPathAvailable: true,
      internalNets: ['10.0.0.0/24'],
      ...overrides,
    },
  };
  return actual;
}

/** A router the eBPF backend has never programmed. */
export function emptyState(): EbpfActualRouter {
  return {
    present: false,
    structureMatches: false,
    inbound: new Map(),
    outbound: new Map(),
    ebpf: {
      object,
      generations: [],
      live: null,
      nftSignature: null,
      hooks: [
        { device: 'qg-r1', hasClsact: false, foreignFilters: 0, attachments: [] },
        { device: 'qr-r1', hasClsact: false, foreignFilters: 0, attachments: [] },
      ],
      internalDevices: ['qr-r1'],
      internalNets: [],
    },
  };
}
