import { join } from 'node:path';
import type { MapName, ProgramName } from './layout.js';

/** A router's folder in bpffs: one sub-folder per generation (see object.ts). */
export function routerPinDir(pinRoot: string, routerId: string): string {
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
