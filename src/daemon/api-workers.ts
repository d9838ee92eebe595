import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { RateGrants } from '../api/shared-rate-limit.js';
import {
  isWorkerMessage,
  WORKER_CONFIG_ENV,
  type PrimaryMessage,
  type WorkerConfig,
  type WorkerMessage,
} from './ipc-protocol.js';
import { childNodeFlags, entryScript } from '../paths.js';
import { explainListenError } from './listen-error.js';
import type { PrimaryRecords } from './primary-records.js';

export interface ApiWorkersOptions {
  readonly count: number;
  readonly config: Omit<WorkerConfig, 'workers'>;
  readonly log: Logger;
  readonly records: PrimaryRecords;
  readonly grants: RateGrants;
  readonly readiness: (routerIds: readonly string[]) => { ready: boolean; detail: string };
  /** A worker committed a write (the agent reads the change feed). */
  readonly onChanged: () => void;
}

export interface ApiWorkers {
  /** Where the workers listen (the first one's answer: they share one socket). */
  readonly url: string;
  broadcast(message: PrimaryMessage): void;
  /** Tells every worker to stop, and waits until they have (killing one that does not within 10 s). */
  stop(): Promise<void>;
}

/** The worker's script, in the layout the primary runs (the bundle, dist/, or the source through tsx). */
const WORKER_SCRIPT = entryScript('daemon/api-worker-main');

/** A worker that dies sooner than this after its start counts as crashing: the next start waits longer. */
const STABLE_MS = 10_000;

/**
 * Runs the API in `count` worker processes (node:cluster) sharing one listening socket, and restarts one that dies.
 * The primary keeps what must be one for all of them: the rate-limit and refusal counts, the audit log, and the
 * agent's state that /readyz reports. Starting fails, with the listen error explained once, if the workers cannot
 * listen.
 */
export async function startApiWorkers(options: ApiWorkersOptions): Promise<ApiWorkers> {
  const { log } = options;
  cluster.setupPrimary({
    exec: WORKER_SCRIPT,
    execArgv: [...process.execArgv, ...childNodeFlags()],
    args: [],
  });
  const env = { [WORKER_CONFIG_ENV]: JSON.stringify({ ...options.config, workers: options.count }) };
  const live = new Set<Worker>();
  let stopping = false;
  let delayMs = 100;

  const answer = (worker: Worker, message: PrimaryMessage) => {
    if (worker.isConnected()) worker.send(message);
  };
  const handle = (worker: Worker, message: WorkerMessage) => {
    switch (message.type) {
      case 'changed':
        return options.onChanged();
      case 'records':
        for (const record of message.records) options.records.receive(record);
        return answer(worker, { type: 'recorded', id: message.id });
      case 'ask-rate':
        return answer(worker, {
          type: 'rate',
          id: message.id,
          grant: options.grants.grant(message.key, message.max, message.windowMs, message.want),
        });
      case 'ask-ready':
        return answer(worker, { type: 'ready', id: message.id, ...options.readiness(message.routerIds) });
      default:
        return undefined;
    }
  };

  /**
   * Starts one worker; resolves with its URL once it listens, rejects with why it could not. A worker of the first
   * start that fails fails the start; a replacement that dies, before listening or after, is replaced again.
   */
  const fork = (initial: boolean) =>
    new Promise<string>((resolve, reject) => {
      const worker = cluster.fork(env);
      const started = Date.now();
      let listening = false;
      live.add(worker);
      // A send to a worker that just died fails with EPIPE on the worker object; its 'exit' handles the rest, and the
      // primary (with the agent) must not die of it.
      worker.on('error', (error: Error) =>
        log.warn({ worker: worker.id, err: error.message }, 'API worker channel'),
      );
      worker.on('message', (message: unknown) => {
        if (!isWorkerMessage(message)) return;
        if (message.type === 'listening') {
          listening = true;
          const sources = options.records.limitedSources();
          if (sources.length > 0) answer(worker, { type: 'limited', sources });
          resolve(message.url);
        } else if (message.type === 'listen-failed') {
          reject(
            explainListenError(
              Object.assign(new Error(message.message), { code: message.code ?? undefined }),
              options.config.host,
              options.config.port,
            ),
          );
        } else if (message.type === 'failed') {
          reject(new Error(message.message));
        } else handle(worker, message);
      });
      worker.on('exit', (code, signal) => {
        live.delete(worker);
        if (!listening) {
          reject(new Error(`The API worker exited before it listened (${signal ?? `exit code ${code}`}).`));
        }
        if (stopping || (initial && !listening)) return;
        delayMs = Date.now() - started < STABLE_MS ? Math.min(delayMs * 2, 5000) : 100;
        log.warn(
          { worker: worker.id, code, signal, restartInMs: delayMs },
          'API worker exited; starting another',
        );
        setTimeout(() => {
          if (stopping) return;
          fork(false).then(
            () => log.info('API worker replaced'),
            (error: unknown) => log.error({ err: (error as Error).message }, 'cannot replace the API worker'),
          );
        }, delayMs).unref();
      });
    });

  const stop = async () => {
    stopping = true;
    await Promise.all(
      [...live].map(
        (worker) =>
          new Promise<void>((done) => {
            if (worker.isDead()) return done();
            const timer = setTimeout(() => worker.kill('SIGKILL'), 10_000);
            worker.once('exit', () => {
              clearTimeout(timer);
              done();
            });
            if (worker.isConnected()) worker.send({ type: 'stop' } satisfies PrimaryMessage);
            else worker.kill('SIGTERM');
          }),
      ),
    );
  };

  let url: string | undefined;
  try {
    // All at once (each takes a while to load): the primary holds one listening socket per address, so port 0 is
    // one port for all, and when listening fails (EADDRINUSE) every worker fails alike and the first error is the
    // one reported.
    [url] = await Promise.all(Array.from({ length: options.count }, () => fork(true)));
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: url!,
    broadcast: (message) => {
      for (const worker of live) answer(worker, message);
    },
    stop,
  };
}
