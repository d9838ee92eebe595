import { ExecError, type Runner } from '../../exec/run.js';
import { MAP_SPECS, PROGRAM_NAMES, type ProgramName } from './layout.js';
import { generationPaths } from './paths.js';

/**
 * What builds a generation: its maps, created and pinned, then its programs, loaded against them. bpftool below;
 * the agent's long-lived loader (loader.ts) where it is built.
 */
export interface GenerationBuilder {
  createMaps(generationDir: string, capacity: number): Promise<void>;
  /** Throws ProgramLoadError when the kernel refuses the programs. */
  loadPrograms(generationDir: string, objectPath: string): Promise<void>;
}

/** Builds with two bpftool processes per generation. */
export function bpftoolBuilder(run: Runner): GenerationBuilder {
  return {
    createMaps: (dir, capacity) => createMaps(run, dir, capacity),
    loadPrograms: (dir, objectPath) => loadPrograms(run, dir, objectPath),
  };
}

/**
 * Creates a generation's maps, pinned, in one bpftool batch. The backend creates the maps (rather than
 * letting libbpf create them from the object) so that it chooses their size and pin paths, and so that every
 * later program load reuses exactly these maps.
 */
export async function createMaps(run: Runner, generationDir: string, capacity: number): Promise<void> {
  const paths = generationPaths(generationDir);
  const lines = MAP_SPECS.map((spec) =>
    [
      'map create',
      paths.map(spec.name),
      `type ${spec.bpftoolType}`,
      `key ${spec.keySize}`,
      `value ${spec.valueSize}`,
      `entries ${spec.maxEntries ?? capacity}`,
      `name ${spec.name}`,
      `flags ${spec.flags}`,
    ].join(' '),
  );
  await run('bpftool', ['batch', 'file', '-'], { input: lines.join('\n') + '\n' });
}

/** Thrown when the kernel's verifier (or libbpf) refuses the programs; `verifierLog` is what it said. */
export class ProgramLoadError extends Error {
  constructor(
    readonly objectPath: string,
    readonly verifierLog: string,
    cause: unknown,
  ) {
    super(`The kernel refused the eBPF programs in ${objectPath}: ${summarise(verifierLog)}`, { cause });
    this.name = 'ProgramLoadError';
  }
}

/**
 * Loads every program of the object and pins them under the generation's progs/ folder. Each map of the
 * object is replaced by the generation's pinned map of the same name, so the programs share them.
 */
export async function loadPrograms(run: Runner, generationDir: string, objectPath: string): Promise<void> {
  const paths = generationPaths(generationDir);
  const args = ['prog', 'loadall', objectPath, paths.programsDir, 'type', 'classifier'];
  for (const spec of MAP_SPECS) args.push('map', 'name', spec.name, 'pinned', paths.map(spec.name));
  try {
    await run('bpftool', args);
  } catch (error) {
    if (error instanceof ExecError) throw new ProgramLoadError(objectPath, error.stderr, error);
    throw error;
  }
}

export const ALL_PROGRAMS: readonly ProgramName[] = PROGRAM_NAMES;

/**
 * libbpf prints the verifier's log between BEGIN/END PROG LOAD LOG markers. The last lines carry the reason
 * (for example "invalid access to packet"); the full log stays on the error for whoever needs it.
 */
export function summarise(log: string): string {
  const inside = /-- BEGIN PROG LOAD LOG --\n([\s\S]*?)-- END PROG LOAD LOG --/.exec(log)?.[1];
  const lines = (inside ?? log)
    .split('\n')
    .map((l) => l.replace(/^libbpf: /, '').trim())
    .filter((l) => l && !/^(processed|verification time|stack depth)/.test(l));
  const failed = /prog '([^']+)': (?:BPF program load failed|failed to load)[^\n]*/.exec(log)?.[0];
  const reason = lines.slice(-3).join(' | ');
  return [failed, reason].filter(Boolean).join(': ') || 'no message';
}
