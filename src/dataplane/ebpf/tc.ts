import { isDeviceName } from '../../model/index.js';
import { TC_HANDLE, TC_PRIORITY, type ProgramName, type TcDirection } from './layout.js';

/** One of this backend's tc filters: on a device's clsact hook, running a program by id. */
export interface Attachment {
  readonly device: string;
  readonly direction: TcDirection;
  readonly programId: number;
}

export interface DeviceHooks {
  readonly device: string;
  readonly hasClsact: boolean;
  readonly attachments: readonly Attachment[];
  /** Filters on this device's clsact hooks that are not this backend's. */
  readonly foreignFilters: number;
}

interface TcFilter {
  pref?: number;
  kind?: string;
  options?: { handle?: string; prog?: { id?: number } };
}
interface TcQdisc {
  kind?: string;
}

/** The read batch: for each device, its qdiscs and both hooks' filters, one JSON line each. */
export function renderReadBatch(devices: readonly string[]): string {
  return devices
    .map((d) => `qdisc show dev ${checked(d)}\nfilter show dev ${d} ingress\nfilter show dev ${d} egress\n`)
    .join('');
}

/**
 * Parses the output of `tc -j -batch` for renderReadBatch: three JSON lines per device. Only filters with this
 * backend's priority and handle are reported; others' filters are not ours to judge.
 */
export function parseReadBatch(devices: readonly string[], stdout: string): DeviceHooks[] {
  const lines = stdout.split('\n').filter((l) => l.trim().startsWith('['));
  if (lines.length !== devices.length * 3) {
    throw new Error(`Unexpected tc output: ${lines.length} JSON lines for ${devices.length} devices`);
  }
  return devices.map((device, i) => {
    const qdiscs = JSON.parse(lines[i * 3]!) as TcQdisc[];
    const attachments: Attachment[] = [];
    let foreignFilters = 0;
    (['ingress', 'egress'] as const).forEach((direction, j) => {
      for (const f of JSON.parse(lines[i * 3 + 1 + j]!) as TcFilter[]) {
        // tc lists a priority's chain head (no options) before its filters: only filters count.
        if (!f.options) continue;
        const id = f.options.prog?.id;
        if (
          f.pref === TC_PRIORITY &&
          f.kind === 'bpf' &&
          Number(f.options.handle) === TC_HANDLE &&
          typeof id === 'number'
        ) {
          attachments.push({ device, direction, programId: id });
        } else {
          foreignFilters++;
        }
      }
    });
    return { device, hasClsact: qdiscs.some((q) => q.kind === 'clsact'), attachments, foreignFilters };
  });
}

/**
 * Parses the loader's answer to `hooks` (native/bpf-load.c): for each device, in order and separated by spaces,
 * "C,F" then ",i:ID" / ",e:ID" per filter of this backend's priority and handle (the loader picks them out, as
 * parseReadBatch does from tc's JSON).
 */
export function parseLoaderHooks(devices: readonly string[], line: string): DeviceHooks[] {
  const groups = line.trim() === '' ? [] : line.trim().split(' ');
  if (groups.length !== devices.length) {
    throw new Error(`Unexpected sfip-bpf-load hooks answer for ${devices.length} devices: '${line.trim()}'`);
  }
  return devices.map((device, i) => {
    const [clsact, foreign, ...attached] = groups[i]!.split(',');
    const attachments = attached.map((a): Attachment => {
      const m = /^([ie]):(\d+)$/.exec(a);
      if (!m) throw new Error(`Unexpected sfip-bpf-load hook '${a}' of ${device}`);
      return { device, direction: m[1] === 'i' ? 'ingress' : 'egress', programId: Number(m[2]) };
    });
    if (!/^[01]$/.test(clsact ?? '') || !/^\d+$/.test(foreign ?? '')) {
      throw new Error(`Unexpected sfip-bpf-load hooks of ${device}: '${groups[i]}'`);
    }
    return { device, hasClsact: clsact === '1', attachments, foreignFilters: Number(foreign) };
  });
}

export interface WantedAttachment {
  readonly device: string;
  readonly direction: TcDirection;
  readonly program: ProgramName;
}

/**
 * One tc batch that attaches (or atomically replaces: cls_bpf swaps the program of an existing filter under
 * RCU, so no packet sees no program) every wanted filter and deletes this backend's filters that are no
 * longer wanted. clsact is added only where it is missing, never replaced: replacing would drop others' filters.
 */
export function renderAttachBatch(
  want: readonly WantedAttachment[],
  programPath: (p: ProgramName) => string,
  needClsact: readonly string[],
  detach: readonly { device: string; direction: TcDirection }[],
): string {
  return [
    ...needClsact.map((d) => `qdisc add dev ${checked(d)} clsact`),
    ...want.map(
      (w) =>
        `filter replace dev ${checked(w.device)} ${w.direction} prio ${TC_PRIORITY} handle ${TC_HANDLE} bpf da object-pinned ${programPath(w.program)}`,
    ),
    ...detach.map(
      (d) => `filter del dev ${checked(d.device)} ${d.direction} prio ${TC_PRIORITY} handle ${TC_HANDLE} bpf`,
    ),
  ]
    .map((l) => l + '\n')
    .join('');
}

function checked(device: string): string {
  if (!isDeviceName(device)) throw new Error(`'${device}' is not a valid device name`);
  return device;
}
