import { join } from 'node:path';
import type { Logger } from 'pino';
import { SqliteStore, type Store } from '../store/index.js';
import { connectWriteTurns } from '../store/sqlite/write-turn-client.js';
import { startWriteTurnServer, type WriteTurnServer } from '../store/sqlite/write-turn-server.js';

/**
 * With API workers on the SQLite store, the primary serves write turns (write-turn-server.ts) on a socket in the
 * state directory (mode 0700) and takes its own turns there too; undefined for any other store (etcd orders writes
 * itself).
 */
export async function serveWriteTurns(
  store: Store,
  stateDir: string,
  log: Logger,
): Promise<WriteTurnServer | undefined> {
  if (!(store instanceof SqliteStore)) return undefined;
  const server = await startWriteTurnServer(join(stateDir, `write-${process.pid}.sock`));
  joinWriteTurns(store, server.path, log);
  return server;
}

/** This process's store takes its write turns from the server at `path` (an API worker's, or the primary's). */
export function joinWriteTurns(store: Store, path: string | undefined, log: Logger): void {
  if (!(store instanceof SqliteStore) || path === undefined) return;
  store.useWriteTurns(
    connectWriteTurns(path, (error) =>
      log.warn({ err: error.message }, "lost the write turns; writes wait on SQLite's lock alone"),
    ),
  );
}
