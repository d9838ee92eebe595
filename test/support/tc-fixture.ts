import type { Runner } from '../../src/exec/run.js';
import type { DesiredRouter } from '../../src/dataplane/types.js';
import type { TcActualRouter } from '../../src/dataplane/tc/plan.js';
import type { DeviceState } from '../../src/dataplane/tc/tc-state.js';
import { readFixture } from './golden.js';

export interface RecordedCall {
  readonly argv: string[];
  readonly stdout: string;
  readonly code: number;
}

/** What scripts/guest/capture-tc-fixture.ts recorded in the act_nat guest. */
export function tcReadFixture(): { desired: DesiredRouter; calls: RecordedCall[] } {
  return JSON.parse(readFixture('tc-read-fixture.json')) as { desired: DesiredRouter; calls: RecordedCall[] };
}

/**
 * Replays recorded command output; `edit` may change an output first (to simulate drift). A command that was not
 * recorded fails the way a missing tool would, so a test cannot pass by accident on a command nobody checked.
 */
export function replayRunner(
  calls: readonly RecordedCall[],
  edit: (argv: string[], stdout: string) => string = (_a, s) => s,
): Runner & { seen: string[][] } {
  const seen: string[][] = [];
  const runner = (async (file: string, args: readonly string[]) => {
    const argv = [file, ...args];
    seen.push(argv);
    const call = calls.find((c) => c.argv.join('\0') === argv.join('\0'));
    if (!call) throw new Error(`not recorded: ${argv.join(' ')}`);
    return { stdout: edit(argv, call.stdout), stderr: '', code: call.code };
  }) as Runner & { seen: string[][] };
  runner.seen = seen;
  return runner;
}

const freshDevice = (device: string, role: 'gateway' | 'internal'): DeviceState => ({
  device,
  role,
  layout: 'none',
  qdiscs: [{ kind: 'noqueue', handle: '0:', root: true, parent: undefined }],
  foreign: [],
  trees: [],
});

/** A router namespace where the tc backend has nothing yet: default qdiscs, no chains, no sets. */
export function emptyActual(desired: DesiredRouter, internal: readonly string[]): TcActualRouter {
  return {
    present: false,
    structureMatches: false,
    inbound: new Map(),
    outbound: new Map(),
    devices: [
      freshDevice(desired.gatewayDevice, 'gateway'),
      ...internal.map((d) => freshDevice(d, 'internal')),
    ],
    internalDevices: [...internal],
    netfilter: { chains: new Map(), jumps: new Map(), sets: new Map() },
  };
}
