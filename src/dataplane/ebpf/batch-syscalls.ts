import { createRequire } from 'node:module';
import type { BPFError as BpfErrorType } from 'bpf';

/**
 * The `bpf` package's own batch syscalls, on whole buffers. Its RawMap copies every key and value it reads into a
 * Buffer of its own (600,000 for a read of a router's three maps at 100,000 floating IPs) and concatenates the
 * per-entry Buffers it is given to write back into one: a converge's map writes of 100,000 took 0.67 s of CPU
 * through it, 0.35 s here (one profile each, load 3-7). Keys and values sit back to back in the buffers here, as
 * the kernel takes and hands them.
 */
interface NativeBatch {
  mapLookupBatch(
    fd: number,
    inBatch: Buffer | undefined,
    outBatch: Buffer,
    keys: Buffer,
    values: Buffer,
    count: number,
    options: { elemFlags: number },
  ): [status: number, count: number];
  mapUpdateBatch(
    fd: number,
    keys: Buffer,
    values: Buffer,
    count: number,
    options: { elemFlags: number },
  ): [status: number, count: number];
}

interface Loaded {
  readonly native: NativeBatch;
  readonly BPFError: new (errno: number, operation: string, count?: number) => BpfErrorType;
}

let loaded: Loaded | undefined;

/** Loaded with the package (maps.ts loads it first, and explains a failure). */
function batchCalls(): Loaded {
  if (!loaded) {
    const require = createRequire(import.meta.url);
    const { native } = require('bpf/dist/util.js') as { native: NativeBatch };
    const { BPFError } = require('bpf') as Pick<Loaded, 'BPFError'>;
    if (typeof native?.mapLookupBatch !== 'function' || typeof native.mapUpdateBatch !== 'function') {
      throw new Error("The 'bpf' npm package has no batch map syscalls where sfip expects them");
    }
    loaded = { native, BPFError };
  }
  return loaded;
}

/** The fields of a map this file needs (a MapRef). */
export interface BatchMap {
  readonly fd: number;
  readonly keySize: number;
  readonly valueSize: number;
}

const ENOENT = 2;
const EFAULT = 14;

/** One batch of a read: `count` keys and values, back to back in `keys` and `values` (reused by the next). */
export interface LookupBatch {
  readonly count: number;
  readonly keys: Buffer;
  readonly values: Buffer;
}

/** Every entry of a hash map, `size` per syscall (BPF_MAP_LOOKUP_BATCH). The buffers are reused between batches. */
export function* lookupBatches(map: BatchMap, size: number): Generator<LookupBatch> {
  const { native, BPFError } = batchCalls();
  const keys = Buffer.alloc(size * map.keySize);
  const values = Buffer.alloc(size * map.valueSize);
  let inBatch: Buffer | undefined;
  let outBatch: Buffer = Buffer.alloc(map.keySize);
  for (;;) {
    const [status, returned] = native.mapLookupBatch(map.fd, inBatch, outBatch, keys, values, size, {
      elemFlags: 0,
    });
    // The kernel's cursor: what this call returned is where the next one starts.
    const next = inBatch ?? Buffer.alloc(map.keySize);
    inBatch = outBatch;
    outBatch = next;
    // ENOENT ends the walk, with the last entries in this batch (kernel/bpf/hashtab.c).
    const count = status === -ENOENT ? returned : fixedCount(returned, size, status);
    if (count !== undefined && count > 0) yield { count, keys, values };
    if (status === -ENOENT) return;
    if (status < 0) throw new BPFError(-status, 'bpf_map_lookup_batch', count);
  }
}

/**
 * Writes `count` entries (BPF_MAP_UPDATE_BATCH), keys and values back to back. Throws the package's BPFError,
 * with `count` entries written before the one that failed (E2BIG or ENOMEM: the map is full).
 */
export function updateBatch(map: BatchMap, keys: Buffer, values: Buffer, count: number): void {
  const { native, BPFError } = batchCalls();
  if (keys.length !== count * map.keySize || values.length !== count * map.valueSize) {
    throw new Error(
      `a batch of ${count} entries needs ${count * map.keySize} bytes of keys and ${count * map.valueSize} of values`,
    );
  }
  const [status, written] = native.mapUpdateBatch(map.fd, keys, values, count, { elemFlags: 0 });
  const done = fixedCount(written, count, status);
  if (status < 0) throw new BPFError(-status, 'bpf_map_update_batch', done);
  if (done !== count) throw new Error(`bpf_map_update_batch wrote ${done} of ${count} entries`);
}

/** An error with every entry processed means the kernel did not update the count (as the package's fixCount). */
function fixedCount(count: number, size: number, status: number): number | undefined {
  if (status < 0 && count === size) return status === -EFAULT ? undefined : 0;
  return count;
}
