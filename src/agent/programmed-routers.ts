import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { targetProblem } from '../dataplane/kernel-names.js';
import { BACKEND_NAMES } from '../model/index.js';
import type { ProgrammedRouter } from './router-reconciler.js';
import { makeDirectories } from '../fs/make-directories.js';
import { PRIVATE_MODE, restrictIfPresent } from '../fs/private-file.js';

/**
 * The agent's own record of which routers it has programmed where. After a restart it tells the agent what to
 * sweep when a router was deleted or moved while the agent was down. Written atomically (rename).
 */
export class ProgrammedRouters {
  /** The text last written: the agent saves after every pass, and a delta rarely changes where routers are. */
  private written: string | undefined;

  constructor(private readonly path: string | null) {}

  /**
   * The recorded routers. Entries whose names could not have come from sfip (see targetProblem) are left out and
   * reported through `onInvalid`, so that a tampered file can never put its text into a kernel tool's input.
   */
  load(onInvalid: (problem: string) => void = () => undefined): ProgrammedRouter[] {
    if (!this.path) return [];
    let parsed: { routers?: ProgrammedRouter[] };
    try {
      parsed = JSON.parse(readFileSync(this.path, 'utf8')) as { routers?: ProgrammedRouter[] };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new Error(
        `Cannot read the agent's record of programmed routers at ${this.path}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    return (Array.isArray(parsed.routers) ? parsed.routers : []).filter((r) => {
      const problem =
        typeof r !== 'object' || r === null
          ? 'an entry is not an object'
          : !(BACKEND_NAMES as readonly string[]).includes(r.backend)
            ? `backend '${String(r.backend)}' of router ${String(r.routerId)} is not a backend`
            : targetProblem(r);
      if (problem) onInvalid(`${this.path}: ignoring an entry: ${problem}`);
      return !problem;
    });
  }

  save(routers: readonly ProgrammedRouter[]): void {
    if (!this.path) return;
    const text = JSON.stringify(
      { routers: [...routers].sort((a, b) => a.routerId.localeCompare(b.routerId)) },
      null,
      1,
    );
    // Unchanged: skip the synchronous write and rename (with 100 routers churning, one per delta).
    if (text === this.written) return;
    makeDirectories(dirname(this.path));
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, text, { mode: PRIVATE_MODE });
    restrictIfPresent(tmp);
    renameSync(tmp, this.path);
    this.written = text;
  }
}
