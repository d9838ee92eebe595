import { rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Agent, NodeAgent } from '../agent/index.js';
import { DEFAULT_RATE_LIMIT, DEFAULT_REFUSAL_LIMIT } from '../api/rate-limit-spec.js';
import {
  AuditLog,
  buildApi,
  validatorsOf,
  DEFAULT_PUBLIC_URL,
  RefusalTracker,
  type AuthMode,
  type RateLimit,
} from '../api/index.js';
import { notFoundHandler } from '../api/neutron-error.js';
import { RateGrants } from '../api/shared-rate-limit.js';
import { startApiWorkers, type ApiWorkers } from './api-workers.js';
import { PrimaryRecords } from './primary-records.js';
import { WokenStore } from './woken-store.js';
import { serveWriteTurns } from './write-turns.js';
import { removeStaleSockets } from './stale-sockets.js';
import type { WriteTurnServer } from '../store/sqlite/write-turn-server.js';
import {
  endpointTokenPath,
  ensureLocalAdminToken,
  unpublishToken,
  verifyToken,
  writeSecretFile,
} from '../auth/index.js';
import { loadDashboardToken, presentedToken, registerDashboard, sameToken } from '../dashboard/index.js';
import {
  agentReadiness,
  createMetricsRegistry,
  Observer,
  ReconcileHistory,
  listenMetrics,
  registerMetricsRoute,
  type MetricsAccess,
} from '../metrics/index.js';
import { parseNodeName, type BackendName } from '../model/index.js';
import { connectStore, isAgentRegistry, type Store } from '../store/index.js';
import { acquireAgentLock, type AgentLock } from './agent-lock.js';
import { dataplaneCache } from './node-agent.js';
import { HeapTrimmer } from './heap-trim.js';
import { readConntrackUsage } from '../dataplane/index.js';
import { sharedSetDump } from '../dataplane/common/set-dump-channel.js';
import { explainListenError } from './listen-error.js';
import { checkPrivileges } from './privileges.js';
import { checkStateDir } from './state-dir.js';
import type { Rotation } from '../fs/rotating-log-file.js';
import { loadTlsFiles } from './tls.js';

export interface ServeOptions {
  readonly host: string;
  readonly port: number;
  readonly stateDir: string;
  readonly store?: string;
  readonly backend: BackendName;
  readonly resyncIntervalMs: number;
  readonly garp: boolean;
  /** Delete conntrack entries a mapping change made stale. Default true; off only to demonstrate the leak. */
  readonly conntrackCleanup?: boolean;
  readonly log: Logger;
  /** Run the API without the agent (another process reconciles). */
  readonly agent: boolean;
  /** The dashboard's token; absent means STATE_DIR/dashboard-token, created on first start. */
  readonly dashboardToken?: string;
  /** How long one read of the dataplane counters serves scrapes and dashboard polls. Default 1 s. */
  readonly countersCacheMs?: number;
  /** With an etcd store, the in-process agent registers as this node (default: the host name). */
  readonly node?: string;
  readonly leaseTtlSeconds?: number;
  /** `token` (default) or `none`, which is refused unless listening on loopback. */
  readonly auth?: AuthMode;
  /** Serve HTTPS with these PEM files instead of plain HTTP. */
  readonly tls?: { readonly certPath: string; readonly keyPath: string };
  /**
   * Where clients reach the API (`--public-url`), for the links in version discovery and pagination. Default: the
   * address it listens on. Never the request's Host header.
   */
  readonly publicUrl?: string;
  /** How long a client may take to send a request. Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** Largest request body, in bytes. Default 256 KiB. */
  readonly bodyLimit?: number;
  /** Requests per caller and window; null turns the limit off. Default 500 every 10 s. */
  readonly rateLimit?: RateLimit | null;
  /** Refused requests (4xx) per source address and window before 429; null turns it off. Default 200 every 10 s. */
  readonly refusalLimit?: RateLimit | null;
  /** Where mutating requests are recorded. Default STATE_DIR/audit.log. */
  readonly auditLogPath?: string;
  /** When the audit log rotates and how many old files it keeps. Default 64 MiB and 5. */
  readonly auditLogRotation?: Rotation;
  /**
   * Serve /metrics on this address instead of the API's (`--metrics-listen`), e.g. loopback while the API is
   * public. The same token is needed there.
   */
  readonly metricsListen?: { readonly host: string; readonly port: number };
  /**
   * API worker processes (`--api-workers`): 0 (the default here) serves the API in this process, beside the agent;
   * N ≥ 1 serves it from N processes sharing the listening socket, apart from the agent (api-workers.ts).
   */
  readonly apiWorkers?: number;
}

export interface RunningServer {
  readonly url: string;
  /** The HTTP server, for tests that walk every route; with API workers, the primary's /metrics and /dashboard. */
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly agent: Agent | undefined;
  /** The local admin token (token auth only): also in STATE_DIR/admin-token and the runtime directory. */
  readonly adminToken: string | undefined;
  readonly history: ReconcileHistory;
  /** Where the generated dashboard token was written, or null when it was given. */
  readonly dashboardTokenPath: string | null;
  /** Where /metrics is served: the API's URL, or the --metrics-listen listener's. */
  readonly metricsUrl: string;
  /** Reopens the audit log at its path (on SIGHUP, after logrotate moved it away). */
  reopenLogs(): void;
  close(): Promise<void>;
}

const LOOPBACK = (host: string) =>
  host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

/**
 * `sfip serve`: the API and the agent in one process, on the embedded SQLite store by default. Stopping it
 * leaves the kernel as it is, so floating IPs keep forwarding while it is down and after it comes back.
 */
export async function serve(options: ServeOptions): Promise<RunningServer> {
  const { log } = options;
  const auth = options.auth ?? 'token';
  if (auth === 'none' && !LOOPBACK(options.host)) {
    throw new Error(
      `Refusing to run without authentication on ${options.host}: --no-auth is for development and only listens on loopback (127.0.0.1 or ::1).`,
    );
  }
  const dataplaneFor = dataplaneCache(log);
  if (options.agent) {
    // Before the backend check, whose failures without privileges would point at the wrong problem.
    if (options.backend !== 'fake') checkPrivileges('run only the API with --no-agent');
    const failed = (await dataplaneFor(options.backend).check()).filter((c) => !c.ok);
    if (failed.length > 0) {
      throw new Error(
        `The ${options.backend} backend cannot run here: ${failed.map((c) => c.detail).join('; ')}. Run 'sfip doctor' for details.`,
      );
    }
  }
  // A read-only, full or unwritable state directory is one clear message before anything is opened.
  checkStateDir(options.stateDir);
  // A bad configured or stored token stops the daemon before it opens anything.
  const token = loadDashboardToken(options.stateDir, options.dashboardToken);
  const store = await connectStore(options.store, options.stateDir, {
    log: log.child({ component: 'store' }),
  });
  let lock: AgentLock | undefined;
  try {
    if (options.agent) lock = acquireAgentLock(options.stateDir);
  } catch (error) {
    await store.close();
    throw error;
  }
  // Routers on the fake dataplane get no conntrack cleanup or GARP whatever this says (Dataplane.withoutKernel).
  const conntrackCleanup = options.conntrackCleanup ?? true;
  // With a shared store (etcd) the in-process agent is one node among others: it registers with a lease and
  // carries only the routers scheduled to it. With SQLite it carries every router.
  const node =
    options.agent && isAgentRegistry(store) ? parseNodeName(options.node ?? hostname()) : undefined;
  const nodeAgent =
    node !== undefined && isAgentRegistry(store)
      ? new NodeAgent({
          store,
          host: node,
          ttlSeconds: options.leaseTtlSeconds ?? 3,
          dataplaneFor,
          defaultBackend: options.backend,
          log: log.child({ component: 'agent', node }),
          resyncIntervalMs: options.resyncIntervalMs,
          garp: options.garp,
          conntrackCleanup,
          stateDir: join(options.stateDir, `agent-${node}`),
        })
      : undefined;
  const apiWorkers = options.apiWorkers ?? 0;
  // With API workers, writes are committed by other processes: they wake the agent (see WokenStore).
  const agentStore = apiWorkers > 0 ? new WokenStore(store) : undefined;
  const agent =
    nodeAgent?.agent ??
    (options.agent
      ? new Agent({
          store: agentStore ?? store,
          dataplaneFor,
          defaultBackend: options.backend,
          log: log.child({ component: 'agent' }),
          resyncIntervalMs: options.resyncIntervalMs,
          programmedRoutersPath: join(options.stateDir, 'agent-routers.json'),
          garp: options.garp,
          conntrackCleanup,
        })
      : undefined);
  // Follow the agent before it starts, so its very first passes are recorded.
  const history = new ReconcileHistory();
  if (agent) history.follow(agent);
  let agentStarted = !agent;
  const https = options.tls ? loadTlsFiles(options.tls.certPath, options.tls.keyPath) : undefined;
  const audit = new AuditLog(
    options.auditLogPath ?? join(options.stateDir, 'audit.log'),
    ...(options.auditLogRotation ? [options.auditLogRotation] : []),
  );
  const readiness = (routerIds: readonly string[]) =>
    agent
      ? agentReadiness(history, agentStarted, routerIds)
      : { ready: true, detail: 'store reachable; no agent in this process' };
  const onAuditWriteError = (error: Error) =>
    log.error({ err: error.message, path: audit.path }, 'cannot write the audit log');
  const rateLimit = options.rateLimit === null ? null : (options.rateLimit ?? DEFAULT_RATE_LIMIT);
  const refusalLimit = options.refusalLimit === undefined ? DEFAULT_REFUSAL_LIMIT : options.refusalLimit;
  // Known once listening (port 0 picks one); no link is built before then, as no request arrives before.
  let endpoint = options.publicUrl;
  // With API workers, this process serves only /metrics and /dashboard, to the workers, on a socket in the state
  // directory (mode 0700): the agent's history and the counters are here.
  const internalSocket = apiWorkers > 0 ? join(options.stateDir, `api-${process.pid}.sock`) : undefined;
  const app = internalSocket
    ? Fastify({
        logger: false,
        bodyLimit: 1024,
        routerOptions: { ignoreTrailingSlash: true },
      }).setNotFoundHandler(notFoundHandler)
    : await buildApi({
        store,
        auth,
        publicUrl: () => endpoint ?? DEFAULT_PUBLIC_URL,
        ...(https && { https }),
        ...(options.requestTimeoutMs !== undefined && { requestTimeoutMs: options.requestTimeoutMs }),
        ...(options.bodyLimit !== undefined && { bodyLimit: options.bodyLimit }),
        ...(rateLimit && { rateLimit }),
        refusalLimit,
        audit: { log: audit, onWriteError: onAuditWriteError },
        logger: log.child({ component: 'api' }),
        ready: readiness,
      });
  const observer = new Observer({
    store,
    dataplaneFor,
    defaultBackend: options.backend,
    cacheMs: options.countersCacheMs ?? 1000,
    // Through the long-lived dumper when it is built: a scrape then starts no process per namespace.
    conntrackUsage: (namespace) => sharedSetDump()?.conntrack(namespace) ?? readConntrackUsage(namespace),
  });
  // The dashboard token (for bookmarks, `sfip top` and scrapers), or any admin API token: both views show every
  // project, so a project token is refused.
  const access = async (headers: Record<string, string | string[] | undefined>): Promise<MetricsAccess> => {
    const presented = presentedToken(headers);
    if (sameToken(presented, token.token)) return 'allowed';
    const record = presented === undefined ? undefined : await verifyToken(store.tokens, presented);
    if (!record) return 'unauthenticated';
    return record.isAdmin ? 'allowed' : 'forbidden';
  };
  const registry = createMetricsRegistry({ observer, history });
  if (!options.metricsListen) registerMetricsRoute(app, registry, (request) => access(request.headers));
  await registerDashboard(app, {
    observer,
    history,
    authorize: async (request) => (await access(request.headers)) === 'allowed',
  });
  // The admin token exists before the first request can arrive, so a client started with the server never sees a 401.
  const local = auth === 'token' ? await ensureLocalAdminToken(store.tokens, options.stateDir) : undefined;
  if (local) log.info({ path: local.path, created: local.created }, 'local admin token ready');
  // Nothing keeps running after a failed start: the store, the audit log and the agent lock are released.
  let writeTurns: WriteTurnServer | undefined;
  const release = async () => {
    await app.close();
    if (internalSocket) rmSync(internalSocket, { force: true });
    await store.close();
    await writeTurns?.stop();
    audit.close();
    lock?.release();
  };
  let workers: ApiWorkers | undefined;
  let records: PrimaryRecords | undefined;
  let address: string;
  const stale = removeStaleSockets(options.stateDir);
  if (stale.length > 0) log.info({ removed: stale }, 'removed sockets of sfip serve processes that are gone');
  if (internalSocket) {
    records = new PrimaryRecords(
      new RefusalTracker({ limit: refusalLimit }),
      audit,
      onAuditWriteError,
      (sources) => workers?.broadcast({ type: 'limited', sources }),
    );
    try {
      rmSync(internalSocket, { force: true });
      await app.listen({ path: internalSocket });
      writeTurns = await serveWriteTurns(store, options.stateDir, log.child({ component: 'store' }));
      workers = await startApiWorkers({
        count: apiWorkers,
        config: {
          host: options.host,
          port: options.port,
          stateDir: options.stateDir,
          ...(options.store !== undefined && { store: options.store }),
          logLevel: log.level,
          auth,
          ...(options.tls && { tls: options.tls }),
          ...(options.publicUrl !== undefined && { publicUrl: options.publicUrl }),
          ...(options.requestTimeoutMs !== undefined && { requestTimeoutMs: options.requestTimeoutMs }),
          ...(options.bodyLimit !== undefined && { bodyLimit: options.bodyLimit }),
          rateLimit,
          refusalLimit,
          internalSocket,
          // With --metrics-listen, /metrics is served there only, as without workers.
          proxyMetrics: !options.metricsListen,
          ...(writeTurns && { writeTurnSocket: writeTurns.path }),
        },
        log,
        records,
        grants: new RateGrants(),
        readiness,
        onChanged: () => agentStore?.wake(),
      });
    } catch (error) {
      records.close();
      await release();
      throw error;
    }
    address = workers.url;
  } else {
    address = await app.listen({ host: options.host, port: options.port }).catch(async (error: unknown) => {
      await release();
      throw explainListenError(error, options.host, options.port);
    });
  }
  endpoint ??= address;
  let metricsListener: Awaited<ReturnType<typeof listenMetrics>> | undefined;
  if (options.metricsListen) {
    try {
      metricsListener = await listenMetrics(
        registry,
        (request) => access(request.headers),
        options.metricsListen.host,
        options.metricsListen.port,
      );
    } catch (error) {
      await workers?.stop();
      records?.close();
      await release();
      throw error;
    }
    log.info({ url: metricsListener.url }, 'metrics listening');
  }
  const adminToken = local?.token;
  // Published before the "listening" line, which clients (and tests) wait for before they call.
  const published =
    adminToken && LOOPBACK(options.host)
      ? publishToken(endpointTokenPath(portOf(address)), adminToken, log)
      : undefined;
  if (auth === 'none') {
    log.warn(
      { url: address },
      'AUTHENTICATION IS OFF (--no-auth): every local client is admin of every project. For development only.',
    );
  }
  log.info({ url: address, store: store.description, backend: options.backend, auth }, 'sfip API listening');
  log.info(
    { dashboard: `${address}/dashboard/`, tokenFile: token.path ?? '(given with --dashboard-token)' },
    'dashboard served; open it with the token',
  );
  const agentRunning = (nodeAgent ?? agent)
    ?.start()
    .then(() => {
      agentStarted = true;
      log.info('agent reconciled every router');
    })
    .catch((error) => log.error({ err: (error as Error).message }, 'agent failed to start'));
  // The API's validators compile on first use; the rest once the agent's first passes are done (or now, without
  // an agent), so that their compile never holds up a converge or a restart, nor a later first request.
  const compiled = Promise.resolve(agentRunning)
    .then(() => validatorsOf(app)?.compileAll())
    .catch((error) => log.error({ err: (error as Error).message }, 'cannot compile an API validator'));
  const heapTrimmer = new HeapTrimmer({ log: log.child({ component: 'heap' }) });
  heapTrimmer.start();
  return {
    url: address,
    app,
    store,
    agent,
    adminToken,
    history,
    dashboardTokenPath: token.path,
    metricsUrl: metricsListener?.url ?? address,
    reopenLogs: () => audit.reopen(),
    async close() {
      heapTrimmer.stop();
      if (published && adminToken) unpublishToken(published, adminToken);
      await metricsListener?.close();
      // Workers first: no request is answered after the agent stopped, and their last records reach the log.
      await workers?.stop();
      records?.close();
      await app.close();
      if (internalSocket) rmSync(internalSocket, { force: true });
      await agentRunning;
      await compiled;
      await (nodeAgent ?? agent)?.stop();
      await store.close();
      await writeTurns?.stop();
      audit.close();
      lock?.release();
    },
  };
}

const portOf = (address: string) => Number(new URL(address).port);

/** Publishes the admin token for the sfip CLI on this machine; best effort, as the state-dir copy always exists. */
function publishToken(path: string, token: string, log: Logger): string | undefined {
  try {
    writeSecretFile(path, token);
    return path;
  } catch (error) {
    log.warn({ path, err: (error as Error).message }, 'cannot publish the admin token for local CLI use');
    return undefined;
  }
}
