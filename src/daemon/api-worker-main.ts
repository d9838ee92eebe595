// One API worker of `sfip serve --api-workers N`, started by the primary through node:cluster (api-workers.ts).
// It serves the Neutron API on the listening socket the primary shares; the agent, the audit log and the limits'
// counts stay in the primary, which this process reaches over the cluster's IPC channel.
import cluster from 'node:cluster';
import { buildApi, DEFAULT_PUBLIC_URL, validatorsOf } from '../api/index.js';
import { grantedRateStore } from '../api/shared-rate-limit.js';
import type { ForwardedRecord } from '../api/forwarded-records.js';
import { connectStore, isAgentRegistry } from '../store/index.js';
import { registerInternalProxy } from './internal-proxy.js';
import {
  isPrimaryMessage,
  WORKER_CONFIG_ENV,
  type PrimaryMessage,
  type WorkerConfig,
  type WorkerMessage,
} from './ipc-protocol.js';
import { createLogger } from './logger.js';
import { loadTlsFiles } from './tls.js';
import { turnBatcher } from './turn-batch.js';
import { joinWriteTurns } from './write-turns.js';

type Readiness = { ready: boolean; detail: string };

const send = (message: WorkerMessage) => {
  // The channel is gone when the primary died: this worker is stopping anyway (see 'disconnect' below).
  if (process.connected) process.send!(message);
};

async function main(): Promise<void> {
  if (!cluster.isWorker || !process.env[WORKER_CONFIG_ENV]) {
    throw new Error('This is an API worker of sfip serve: run `sfip serve --api-workers N` instead.');
  }
  const config = JSON.parse(process.env[WORKER_CONFIG_ENV]) as WorkerConfig;
  const log = createLogger(config.logLevel).child({ worker: cluster.worker!.id });
  // The primary decides when workers stop: a signal to the whole process group (Ctrl-C, systemd) reaches it too,
  // and it stops them in order. A SIGHUP is the primary's (it reopens the audit log it writes).
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => undefined);
  // The channel to the primary broke (it died while this worker was starting): nothing here is of use any more.
  cluster.worker!.on('error', (error: Error) => {
    log.warn({ err: error.message }, 'lost the primary process; stopping');
    process.exit(1);
  });

  const asks = new Map<number, (message: PrimaryMessage) => void>();
  let nextAsk = 1;
  const ask = <T extends PrimaryMessage>(message: WorkerMessage & { id: number }) =>
    new Promise<T>((resolve, reject) => {
      if (!process.connected) return reject(new Error('the primary process is gone'));
      asks.set(message.id, resolve as (message: PrimaryMessage) => void);
      send(message);
    });
  const limited = new Map<string, number>();
  // Until the server exists there is nothing to close.
  let stopNow = (): void => process.exit(0);
  process.on('message', (message: unknown) => {
    if (!isPrimaryMessage(message)) return;
    if (message.type === 'rate' || message.type === 'ready' || message.type === 'recorded') {
      asks.get(message.id)?.(message);
      asks.delete(message.id);
    } else if (message.type === 'limited') {
      for (const [address, until] of message.sources) limited.set(address, until);
    } else if (message.type === 'stop') stopNow();
  });

  const store = await connectStore(config.store, config.stateDir, { log: log.child({ component: 'store' }) });
  joinWriteTurns(store, config.writeTurnSocket, log);
  // Each commit wakes the agent in the primary; the change feed's sequence numbers say what changed. With etcd the
  // agent follows etcd's watch, which sees every writer: nothing to forward.
  if (!isAgentRegistry(store)) store.onChange(() => send({ type: 'changed' }));
  const https = config.tls ? loadTlsFiles(config.tls.certPath, config.tls.keyPath) : undefined;
  let endpoint = config.publicUrl;
  const app = await buildApi({
    store,
    auth: config.auth,
    publicUrl: () => endpoint ?? DEFAULT_PUBLIC_URL,
    ...(https && { https }),
    ...(config.requestTimeoutMs !== undefined && { requestTimeoutMs: config.requestTimeoutMs }),
    ...(config.bodyLimit !== undefined && { bodyLimit: config.bodyLimit }),
    ...(config.rateLimit && { rateLimit: config.rateLimit }),
    shared: {
      records: {
        limit: config.refusalLimit,
        limitedUntilMs: (address) => {
          const until = limited.get(address) ?? 0;
          if (until !== 0 && until <= Date.now()) limited.delete(address);
          return until;
        },
        send: turnBatcher(async (records: ForwardedRecord[]) => {
          await ask({ type: 'records', id: nextAsk++, records });
        }),
      },
      rateLimitStore: grantedRateStore(
        async (key, max, windowMs, want) =>
          (
            await ask<Extract<PrimaryMessage, { type: 'rate' }>>({
              type: 'ask-rate',
              id: nextAsk++,
              key,
              max,
              windowMs,
              want,
            })
          ).grant,
        config.workers,
      ),
    },
    logger: log.child({ component: 'api' }),
    // The agent's state is the primary's: any worker answers /readyz the same.
    ready: async (routerIds): Promise<Readiness> => {
      try {
        const answer = await ask<Extract<PrimaryMessage, { type: 'ready' }>>({
          type: 'ask-ready',
          id: nextAsk++,
          routerIds,
        });
        return { ready: answer.ready, detail: answer.detail };
      } catch (error) {
        return { ready: false, detail: `cannot ask the primary process: ${(error as Error).message}` };
      }
    },
  });
  registerInternalProxy(app, config.internalSocket, config.proxyMetrics);

  const stop = async (code: number) => {
    await app.close();
    await store.close();
    process.exit(code);
  };
  stopNow = () => void stop(0);
  // The primary is gone (crashed or killed): nobody restarts, counts or logs for this worker any more.
  process.on('disconnect', () => void stop(0));
  try {
    const url = await app.listen({ host: config.host, port: config.port });
    endpoint ??= url;
    send({ type: 'listening', url });
    // Compiled on first use (lazy-validation.ts); the rest now, before most first requests arrive.
    validatorsOf(app)
      ?.compileAll()
      .catch((error) => log.error({ err: (error as Error).message }, 'cannot compile an API validator'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? null;
    send({ type: 'listen-failed', code, message: (error as Error).message });
    await stop(1);
  }
}

main().catch((error: unknown) => {
  // Reported once, by the primary, which stops starting workers.
  send({ type: 'failed', message: (error as Error).message });
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 100).unref();
});
