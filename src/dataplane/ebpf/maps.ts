import bpf from 'bpf';
import type { MapRef, RawMap as RawMapType } from 'bpf';
import type { MapSpec } from './layout.js';
import { addressBytes, addressText } from './values.js';

const { BPFError, RawMap, createMapRef, objGet } = bpf;

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
  let fd: number;
  try {
    fd = objGet(path);
  } catch (error) {
    if (error instanceof BPFError && error.code === 'ENOENT') return undefined;
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

/** Reads an address-to-address map with batch lookups. */
export function readAddressMap(map: PinnedMap): Map<string, string> {
  const out = new Map<string, string>();
  for (const batch of map.raw.getBatch(BATCH)) {
    for (const [key, value] of batch) out.set(addressText(key), addressText(value));
  }
  return out;
}

export interface AddressMapChange {
  readonly remove: readonly string[];
  readonly set: readonly (readonly [key: string, value: string])[];
}

/**
 * Deletes then sets entries in batches of BATCH per syscall. A key that is already gone is not an error (the
 * goal is its absence). A full map names the floating IP that did not fit: `describe` turns the key that
 * failed into words.
 */
export function changeAddressMap(
  map: PinnedMap,
  change: AddressMapChange,
  describe: (key: string, value: string) => string,
): void {
  for (let i = 0; i < change.remove.length; i += BATCH) {
    const keys = change.remove.slice(i, i + BATCH).map(addressBytes);
    try {
      map.raw.deleteBatch(keys);
    } catch (error) {
      if (!(error instanceof BPFError) || error.code !== 'ENOENT') throw wrap(map, error);
      // Someone removed an entry since it was read: delete what is left one by one.
      for (const key of keys) map.raw.delete(key);
    }
  }
  for (let i = 0; i < change.set.length; i += BATCH) {
    const entries = change.set.slice(i, i + BATCH);
    try {
      map.raw.setBatch(entries.map(([k, v]) => [addressBytes(k), addressBytes(v)] as [Buffer, Buffer]));
    } catch (error) {
      if (error instanceof BPFError && (error.code === 'E2BIG' || error.code === 'ENOMEM')) {
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
