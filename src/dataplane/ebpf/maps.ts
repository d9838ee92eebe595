import { createRequire } from 'node:module';
import type * as BpfModule from 'bpf';
import type { MapRef, RawMap as RawMapType } from 'bpf';
import { yieldToLoop } from '../common/yield-to-loop.js';
import type { MapSpec } from './layout.js';
import { lookupBatches, updateBatch } from './batch-syscalls.js';
import { QOS_VALUE_SIZE, qosValues, qosValueText } from './qos.js';
import {
  addressBuffer,
  addressKeys,
  addressText,
  macBuffer,
  macText,
  macValues,
  pfKeys,
  pfKeyText,
  pfValues,
  pfValueText,
} from './values.js';

let loaded: typeof BpfModule | undefined;

/**
 * The `bpf` package (a native addon) is loaded on first use, not at import: a host where it cannot load must
 * still run every other backend, and gets this backend's error only when it asks for eBPF.
 */
export function bpf(): typeof BpfModule {
  if (!loaded) {
    try {
      loaded = createRequire(import.meta.url)('bpf') as typeof BpfModule;
    } catch (error) {
      throw new Error(
        `The 'bpf' npm package (BPF map access) cannot be loaded: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }
  return loaded;
}

function isBpfError(error: unknown, ...codes: string[]): error is BpfModule.BPFError {
  return error instanceof bpf().BPFError && codes.includes(error.code ?? '');
}

/** How many entries one batch syscall carries; the kernel copies keys and values in one go. */
const BATCH = 8192;

/** A pinned map opened through the `bpf` package (one fd, closed by `close`). */
export interface PinnedMap {
  readonly path: string;
  readonly ref: MapRef;
  readonly raw: RawMapType;
  close(): void;
}

/** Opens a pinned map; undefined when nothing is pinned there. */
export function openPinnedMap(path: string): PinnedMap | undefined {
  const { RawMap, createMapRef, objGet } = bpf();
  let fd: number;
  try {
    fd = objGet(path);
  } catch (error) {
    if (isBpfError(error, 'ENOENT')) return undefined;
    throw new Error(`Cannot open pinned BPF map ${path}: ${(error as Error).message}`, { cause: error });
  }
  const ref = createMapRef(fd, { transfer: true });
  return { path, ref, raw: new RawMap(ref), close: () => ref.close() };
}

/** Does a pinned map still have the layout the programs were built for? */
export function mapMatches(map: PinnedMap, spec: MapSpec, capacity: number): boolean {
  const { ref } = map;
  return (
    ref.type === spec.kernelType &&
    ref.keySize === spec.keySize &&
    ref.valueSize === spec.valueSize &&
    ref.maxEntries === (spec.maxEntries ?? capacity) &&
    ref.flags === spec.flags
  );
}

/** How a map's keys or values are written as text (for planning) and as bytes (for the kernel). */
export interface Codec {
  /** Many texts as views into one buffer, what the delete batches take. */
  readonly bytes: (texts: readonly string[]) => Buffer[];
  /** Many texts back to back in one buffer, what the update batches take (see batch-syscalls.ts). */
  readonly buffer: (texts: readonly string[]) => Buffer;
  /** The text of the key or value at `offset` in a batch's buffer. */
  readonly text: (bytes: Buffer, offset: number) => string;
}

/** A codec from one that writes views into one buffer and reads its own buffer (the small maps). */
function viewCodec(bytes: Codec['bytes'], size: number, text: (bytes: Buffer) => string): Codec {
  return {
    bytes,
    buffer: (texts) => Buffer.concat(bytes(texts)),
    text: (b, offset) => text(b.subarray(offset, offset + size)),
  };
}

export const ADDRESS: Codec = { bytes: addressKeys, buffer: addressBuffer, text: addressText };
/** pf_in and pf_out: "203.0.113.11 tcp 2222" -> "10.0.0.12 22" (forwarding.ts). */
export const PF_KEY: Codec = viewCodec(pfKeys, 8, pfKeyText);
export const PF_VALUE: Codec = viewCodec(pfValues, 8, pfValueText);
/** fixed_macs values: a port's MAC (lower case, colon-separated). */
export const MAC_VALUE: Codec = { bytes: macValues, buffer: macBuffer, text: macText };
/** qos: a floating IP's limits as their `limitsKey` (qos.ts). */
export const QOS_VALUE: Codec = viewCodec(qosValues, QOS_VALUE_SIZE, qosValueText);

/**
 * Reads a hash map with batch lookups, keys and values as text. The event loop runs between batches: a read of
 * 100,000 entries (every map of a router, one after another) held it for over a second on a loaded machine, and
 * every association of every router waited for it. The kernel's batch cursor (a hash bucket) stays valid across
 * the turns; an entry changed meanwhile may or may not be seen, as with any other process writing the map.
 */
export async function readMap(map: PinnedMap, key: Codec, value: Codec): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const { keySize, valueSize } = map.ref;
  for (const { count, keys, values } of lookupBatches(map.ref, BATCH)) {
    for (let i = 0; i < count; i++) out.set(key.text(keys, i * keySize), value.text(values, i * valueSize));
    await yieldToLoop();
  }
  return out;
}

/** Reads an address-to-address map with batch lookups (see readMap). */
export function readAddressMap(map: PinnedMap): Promise<Map<string, string>> {
  return readMap(map, ADDRESS, ADDRESS);
}

export interface AddressMapChange {
  readonly remove: readonly string[];
  readonly set: readonly (readonly [key: string, value: string])[];
}

/**
 * Deletes then sets entries in batches of BATCH per syscall. A key that is already gone is not an error (the
 * goal is its absence). A full map names the entry that did not fit: `describe` turns the key that failed into
 * words.
 */
export function changeMap(
  map: PinnedMap,
  change: AddressMapChange,
  describe: (key: string, value: string) => string,
  key: Codec,
  value: Codec,
): void {
  for (let i = 0; i < change.remove.length; i += BATCH) {
    const keys = key.bytes(change.remove.slice(i, i + BATCH));
    try {
      map.raw.deleteBatch(keys);
    } catch (error) {
      if (!isBpfError(error, 'ENOENT')) throw wrap(map, error);
      // Someone removed an entry since it was read: delete what is left one by one.
      for (const k of keys) map.raw.delete(k);
    }
  }
  for (let i = 0; i < change.set.length; i += BATCH) {
    const entries = change.set.slice(i, i + BATCH);
    try {
      const keys = key.buffer(entries.map(([k]) => k));
      const values = value.buffer(entries.map(([, v]) => v));
      updateBatch(map.ref, keys, values, entries.length);
    } catch (error) {
      if (isBpfError(error, 'E2BIG', 'ENOMEM')) {
        const failed = entries[error.count ?? 0] ?? entries[0]!;
        throw new Error(
          `${describe(failed[0], failed[1])} does not fit: BPF map ${map.path} is full (${map.ref.maxEntries} entries)`,
          { cause: error },
        );
      }
      throw wrap(map, error);
    }
  }
}

/** changeMap for the address-to-address maps (fip2fixed, fixed2fip). */
export function changeAddressMap(
  map: PinnedMap,
  change: AddressMapChange,
  describe: (key: string, value: string) => string,
): void {
  changeMap(map, change, describe, ADDRESS, ADDRESS);
}

export function writeValue(map: PinnedMap, key: Buffer, value: Buffer): void {
  try {
    map.raw.set(key, value);
  } catch (error) {
    throw wrap(map, error);
  }
}

export function readValue(map: PinnedMap, key: Buffer): Buffer | undefined {
  return map.raw.get(key);
}

function wrap(map: PinnedMap, error: unknown): Error {
  return new Error(`BPF map ${map.path}: ${(error as Error).message}`, { cause: error });
}

/** Whether the `bpf` package's native addon loads here (for check() and `sfip doctor`). */
export function bpfPackageVersion(): { ok: boolean; detail: string } {
  try {
    const { versions } = bpf();
    return { ok: true, detail: `bpf npm package loaded (bundled libbpf ${versions.libbpf})` };
  } catch (error) {
    return { ok: false, detail: (error as Error).message };
  }
}

/**
 * Every entry of a small map through get-next-key (LPM tries have no batch lookup), as [key, value] buffers.
 */
export function readEntries(map: PinnedMap): [Buffer, Buffer][] {
  return [...map.raw.entries()].map(([k, v]) => [Buffer.from(k), Buffer.from(v)]);
}

/** Sets entries, then deletes keys (for small maps whose keys are not addresses). */
export function changeEntries(
  map: PinnedMap,
  set: readonly [Buffer, Buffer][],
  remove: readonly Buffer[],
): void {
  try {
    for (const [k, v] of set) map.raw.set(k, v);
    for (const k of remove) map.raw.delete(k);
  } catch (error) {
    throw wrap(map, error);
  }
}
