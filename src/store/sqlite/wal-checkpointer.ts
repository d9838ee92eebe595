import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Runs SQLite's WAL checkpoints on a worker thread with its own connection. A checkpoint copies the WAL into the
 * database and fsyncs it; done by the main connection (SQLite's autocheckpoint) it blocks the event loop, and
 * with it every API request, for as long as the disk takes. PASSIVE checkpoints never block writers, and the
 * durability is unchanged: WAL commits were never fsynced (synchronous=NORMAL), checkpoints still are.
 *
 * Under a steady stream of writes a PASSIVE checkpoint never catches up with the last frame, so SQLite never
 * restarts the WAL and the file grows without bound (hundreds of MB in seconds under the API benchmark). Once the
 * WAL passes `restartBytes`, a TRUNCATE checkpoint briefly holds writers back, right after a PASSIVE one has
 * copied nearly everything, and the WAL starts over from an empty file.
 *
 * A TRUNCATE checkpoint waits for readers to leave the WAL, and every writer waits behind it meanwhile. A reader
 * that stays (a listing of 100,000 floating IPs on a loaded machine) made it wait its whole busy timeout, 5 s,
 * which is also the writers' own: they failed with "database is locked", and the agent's status writes and
 * API creates with them. So the worker waits at most `truncateWaitMs` for readers, and after a TRUNCATE that
 * could not finish it tries again only after `truncateBackoffMs`: writers are held back for at most that
 * fraction of the time while a reader stays, and the WAL restarts once it has gone.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { statSync } = require('node:fs');
const Database = require(workerData.module);
// The busy timeout bounds only what waits on locks here: TRUNCATE's wait for readers (PASSIVE never waits).
const db = new Database(workerData.path, { timeout: workerData.truncateWaitMs });
let truncateAfter = 0;
const walBytes = () => {
  try {
    return statSync(workerData.path + '-wal').size;
  } catch {
    return 0;
  }
};
const checkpoint = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    if (walBytes() <= workerData.restartBytes || Date.now() < truncateAfter) return;
    const [result] = db.pragma('wal_checkpoint(TRUNCATE)');
    if (result && result.busy) truncateAfter = Date.now() + workerData.truncateBackoffMs;
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message) });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

export interface CheckpointOptions {
  readonly intervalMs?: number;
  /** A WAL larger than this is restarted from an empty file by a TRUNCATE checkpoint. */
  readonly restartBytes?: number;
  /** How long a TRUNCATE checkpoint waits for readers, holding writers back meanwhile. */
  readonly truncateWaitMs?: number;
  /** How long after a TRUNCATE that readers kept from finishing the next one may start. */
  readonly truncateBackoffMs?: number;
}

export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  /** The last error a checkpoint reported, for diagnostics; checkpoints are retried on the next tick anyway. */
  lastError: string | undefined;
  private stopped = false;

  constructor(path: string, options: CheckpointOptions = {}) {
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    const workerData = {
      path,
      module,
      intervalMs: options.intervalMs ?? 250,
      restartBytes: options.restartBytes ?? 64 * 1024 * 1024,
      truncateWaitMs: options.truncateWaitMs ?? 100,
      truncateBackoffMs: options.truncateBackoffMs ?? 1000,
    };
    this.worker = new Worker(WORKER, { eval: true, workerData });
    this.worker.on('message', (message: { error?: string }) => (this.lastError = message.error));
    // A worker that throws (its database gone before it opened it: a store closed at once, its directory
    // removed) emits 'error' here, and an 'error' nobody listens to is an uncaught exception that would take
    // the daemon down for a checkpoint, which only saves disk. It is recorded; the worker has exited.
    this.worker.on('error', (error: Error) => (this.lastError = error.message));
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    // After the listeners: adding a 'message' listener refs the worker again.
    this.worker.unref();
  }

  async stop(): Promise<void> {
    // Unreferenced so that it never keeps a process alive; referenced again while we wait for it to finish.
    if (this.stopped) return this.exited;
    this.stopped = true;
    this.worker.ref();
    this.worker.postMessage('stop');
    await this.exited;
  }
}
