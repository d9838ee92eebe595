import { rmSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/**
 * Hands out turns to write the SQLite store to the processes of one `sfip serve` (the primary and its API workers),
 * one at a time, first asked first served, over a Unix socket (write-turn-client.ts). Without it they met on
 * SQLite's write lock: a process that found it taken slept in SQLite's busy handler, its event loop stopped, and
 * woke when the handler's next sleep ended, not when the lock came free. While filling through the API with two
 * workers each process slept 2,000-5,000 times per 5,000 floating IPs, and the fill ran at 550-670/s against
 * 1,000-1,180/s with one process. A turn comes as soon as the previous holder ends its commit; a process waits for
 * it on its event loop, and what its requests write meanwhile joins the same group commit.
 *
 * The server runs on a thread of its own so that a busy event loop in the primary (the agent reconciling) never
 * delays a turn between workers. The protocol is one byte each way: 'A' asks for a turn, 'G' grants it, 'R' ends
 * it. A closed connection (its process died) gives up its turn and its place in the queue.
 */
const SERVER = `
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
const ASK = 0x41, END = 0x52, GRANT = 'G';
const queue = [];
const sockets = new Set();
let holder;
const next = () => {
  while (holder === undefined && queue.length > 0) {
    const socket = queue.shift();
    if (socket.destroyed) continue;
    holder = socket;
    socket.write(GRANT);
  }
};
const server = net.createServer((socket) => {
  sockets.add(socket);
  socket.on('data', (chunk) => {
    for (const byte of chunk) {
      if (byte === ASK) queue.push(socket);
      else if (byte === END && holder === socket) holder = undefined;
    }
    next();
  });
  // A process that died mid-turn: SQLite rolled its transaction back with its connection; the turn is the next one's.
  socket.on('close', () => {
    sockets.delete(socket);
    for (let i = queue.indexOf(socket); i >= 0; i = queue.indexOf(socket)) queue.splice(i, 1);
    if (holder === socket) holder = undefined;
    next();
  });
  socket.on('error', () => undefined);
});
server.on('error', (error) => parentPort.postMessage({ error: error.message }));
server.listen(workerData.path, () => parentPort.postMessage({ listening: true }));
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  server.close();
  for (const socket of sockets) socket.destroy();
  parentPort.close();
});
`;

export interface WriteTurnServer {
  readonly path: string;
  stop(): Promise<void>;
}

/** Starts the server on `path` (replacing a stale socket there); resolves once it listens. */
export async function startWriteTurnServer(path: string): Promise<WriteTurnServer> {
  rmSync(path, { force: true });
  const worker = new Worker(SERVER, { eval: true, workerData: { path } });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    worker.once('message', (message: { listening?: true; error?: string }) =>
      message.listening
        ? resolve()
        : reject(new Error(`cannot serve write turns on ${path}: ${message.error}`)),
    );
    worker.once('error', reject);
    worker.once('exit', () => reject(new Error('the write turn server exited')));
  });
  // Never what keeps the daemon alive: it stops with the store.
  worker.unref();
  let stopping: Promise<void> | undefined;
  return {
    path,
    stop: () => {
      stopping ??= (async () => {
        worker.ref();
        worker.postMessage('stop');
        await exited;
        rmSync(path, { force: true });
      })();
      return stopping;
    },
  };
}
