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
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { statSync } = require('node:fs');
const Database = require(workerData.module);
const db = new Database(workerData.path, { timeout: 5000 });
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
    if (walBytes() > workerData.restartBytes) db.pragma('wal_checkpoint(TRUNCATE)');
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

export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  /** The last error a checkpoint reported, for diagnostics; checkpoints are retried on the next tick anyway. */
  lastError: string | undefined;
  private stopped = false;

  constructor(path: string, options: { intervalMs?: number; restartBytes?: number } = {}) {
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    const workerData = {
      path,
      module,
      intervalMs: options.intervalMs ?? 250,
      restartBytes: options.restartBytes ?? 64 * 1024 * 1024,
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
