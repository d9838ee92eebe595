import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ProgrammedRouter } from './router-reconciler.js';

/**
 * The agent's own record of which routers it has programmed where. After a restart it tells the agent what to
 * sweep when a router was deleted or moved while the agent was down. Written atomically (rename).
 */
export class ProgrammedRouters {
  constructor(private readonly path: string | null) {}

  load(): ProgrammedRouter[] {
    if (!this.path) return [];
    try {
      const parsed = JSON.parse(readFileSync(this.path, 'utf8')) as { routers?: ProgrammedRouter[] };
      return parsed.routers ?? [];
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new Error(
        `Cannot read the agent's record of programmed routers at ${this.path}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  save(routers: readonly ProgrammedRouter[]): void {
    if (!this.path) return;
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.tmp`;
    writeFileSync(
      tmp,
      JSON.stringify({ routers: [...routers].sort((a, b) => a.routerId.localeCompare(b.routerId)) }, null, 1),
    );
    renameSync(tmp, this.path);
  }
}
