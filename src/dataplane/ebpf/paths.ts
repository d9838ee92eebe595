import { join } from 'node:path';
import { isUuid } from '../../model/index.js';
import type { MapName, ProgramName } from './layout.js';

/**
 * A router's folder in bpffs: one sub-folder per generation (see object.ts). The id becomes a path and a word in
 * bpftool batch files, so anything but a UUID (a `..`, a slash, a newline) is refused here.
 */
export function routerPinDir(pinRoot: string, routerId: string): string {
  if (!isUuid(routerId))
    throw new Error(`Router id '${routerId}' is not a lower-case UUID: the eBPF backend pins under it`);
  return join(pinRoot, routerId);
}

export function generationPaths(generationDir: string) {
  return {
    dir: generationDir,
    map: (name: MapName) => join(generationDir, name),
    programsDir: join(generationDir, 'progs'),
    program: (name: ProgramName) => join(generationDir, 'progs', name),
  };
}
