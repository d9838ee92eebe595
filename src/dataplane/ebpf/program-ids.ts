import { closeSync, readFileSync } from 'node:fs';
import type { ProgramName } from './layout.js';
import { bpf } from './maps.js';
import { generationPaths } from './paths.js';

/**
 * Program ids behind pinned programs: this is what a tc filter reports, so attachments can be compared. Read with
 * two syscalls per program (BPF_OBJ_GET on the pin, then the fd's /proc fdinfo, whose `prog_id` line only a
 * program has) instead of a `bpftool prog show` process: every read of a router needs them, and starting a
 * process costs the daemon 4-9 ms of its event loop (fork, then waiting for the exec), which 100 routers pay
 * 100 times per round. A pin that is missing, or is not a program, has no id.
 */
export function pinnedProgramIds(
  generationDir: string,
  present: readonly ProgramName[],
): Map<ProgramName, number> {
  const paths = generationPaths(generationDir);
  const ids = new Map<ProgramName, number>();
  for (const name of present) {
    const id = pinnedProgramId(paths.program(name));
    if (id !== undefined) ids.set(name, id);
  }
  return ids;
}

function pinnedProgramId(path: string): number | undefined {
  let fd: number;
  try {
    fd = bpf().objGet(path);
  } catch (error) {
    // Gone since its folder was listed (a prune, or an old generation dropped meanwhile): no id.
    if ((error as { code?: string }).code === 'ENOENT') return undefined;
    throw new Error(`Cannot open pinned BPF program ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    const id = /^prog_id:\s+(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
    return id === undefined ? undefined : Number(id);
  } finally {
    closeSync(fd);
  }
}
