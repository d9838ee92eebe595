import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { diagnoseStateDir } from '../store/state-dir-diagnosis.js';
import { ensurePrivateDatabase, PRIVATE_MODE, restrictIfPresent } from '../fs/private-file.js';

export interface AgentLock {
  release(): void;
}

/**
 * One agent per state directory. Two agents on one store would both program the same routers and undo each other;
 * with SQLite in WAL mode nothing else would stop them. The lock is SQLite's own exclusive file lock on
 * STATE_DIR/agent.lock, held for the life of the process: the kernel drops it when the process dies, however it
 * dies, so a SIGKILLed agent never leaves a stale lock behind. STATE_DIR/agent.pid only names the holder.
 */
export function acquireAgentLock(stateDir: string): AgentLock {
  const path = join(stateDir, 'agent.lock');
  const pidPath = join(stateDir, 'agent.pid');
  let db: Database.Database;
  try {
    ensurePrivateDatabase(path);
    db = new Database(path, { timeout: 0 });
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    throw new Error(
      `Cannot open the agent lock ${path}: ${(error as Error).message}. ${diagnoseStateDir(stateDir, code)}`,
      {
        cause: error,
      },
    );
  }
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    // The first write transaction takes the exclusive lock, and exclusive locking mode keeps it until close.
    db.exec('BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS agent (pid INTEGER); DELETE FROM agent; COMMIT;');
  } catch (error) {
    db.close();
    const code = (error as { code?: string }).code ?? '';
    if (code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED') {
      throw new Error(
        `Cannot take the agent lock ${path}: ${(error as Error).message}. ${diagnoseStateDir(stateDir, code)}`,
        { cause: error },
      );
    }
    let holder = 'another process';
    try {
      holder = `process ${readFileSync(pidPath, 'utf8').trim()}`;
    } catch {
      /* the pid file is only a hint */
    }
    throw new Error(
      `Another sfip agent (${holder}) holds ${path}: two agents would program the same routers against each other. ` +
        'Stop it first, run this one with --no-agent, or give it another --state-dir.',
      { cause: error },
    );
  }
  writeFileSync(pidPath, `${process.pid}\n`, { mode: PRIVATE_MODE });
  restrictIfPresent(pidPath);
  return { release: () => db.close() };
}
