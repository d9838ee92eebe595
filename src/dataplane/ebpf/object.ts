import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BPF_DIR } from '../../paths.js';
import { MAP_SPECS } from './layout.js';

/**
 * The compiled programs, as scripts/build-bpf.sh leaves them in dist/bpf.
 */
export const DEFAULT_OBJECT_PATH = join(BPF_DIR, 'sfip_nat.o');
/** Built with -DSFIP_NO_FAST_PATH: for kernels without the fast path's helpers (fast-path.ts). */
export const DEFAULT_TC_OBJECT_PATH = join(BPF_DIR, 'sfip_nat_tc.o');

/** The fast path with bpf_redirect only (-DSFIP_NO_REDIRECT_PEER): for kernels without bpf_redirect_peer. */
export const DEFAULT_NOPEER_OBJECT_PATH = join(BPF_DIR, 'sfip_nat_nopeer.o');

export interface BpfObject {
  readonly path: string;
  /** Hex sha256 of the object file: a different build is a different program. */
  readonly digest: string;
}

export async function loadObject(path: string): Promise<BpfObject> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new Error(
      `eBPF object ${path} is missing: run 'npm run build' with clang and libbpf-dev installed (scripts/build-bpf.sh)`,
      { cause: error },
    );
  }
  return { path, digest: createHash('sha256').update(bytes).digest('hex') };
}

/**
 * A generation is one set of maps plus the programs loaded against them. Its name changes whenever the program
 * or the map layout or size changes, so a running generation is never modified in place: a new one is built
 * beside it, filled, and swapped in by replacing the tc filters.
 */
export function generationName(object: BpfObject, capacity: number): string {
  const key = `${object.digest} ${capacity}`;
  let name = generationNames.get(key);
  if (name === undefined) {
    const hash = createHash('sha256')
      .update(object.digest)
      .update(JSON.stringify(MAP_SPECS))
      .update(String(capacity))
      .digest('hex');
    name = `g${hash.slice(0, 12)}`;
    generationNames.set(key, name);
  }
  return name;
}

/**
 * Names already computed, by object digest and capacity: every plan asks (each delta of every router), and the
 * hash of the map layout was 16 µs of each. A daemon sees one object or two, and a few capacities.
 */
const generationNames = new Map<string, string>();

export function isGenerationName(name: string): boolean {
  return /^g[0-9a-f]{12}$/.test(name);
}
