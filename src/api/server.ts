import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import { registerAuditLog, writeBursts, type AuditLog } from './audit-log.js';
import { registerForwardedRecords, type RecordForwarding } from './forwarded-records.js';
import { registerAuth, type AuthMode } from './auth.js';
import { registerExtensions } from './extensions.js';
import { errorHandler, frameworkErrorHandler, notFoundHandler } from './neutron-error.js';
import { registerOpenApi } from './openapi.js';
import { registerRateLimit, type RateLimit } from './rate-limit.js';
import { RefusalTracker, registerRefusalLimit } from './refusal-limit.js';
import { registerResource } from './resource-routes.js';
import { registerAgents } from './resources/agents.js';
import { bgpPeers } from './resources/bgp-peers.js';
import { bgpSpeakers, registerBgpSpeakerActions } from './resources/bgp-speakers.js';
import { registerFloatingIpPools } from './resources/floatingip-pools.js';
import { registerProjects } from './resources/projects.js';
import { qosPolicies } from './resources/qos-policies.js';
import { registerQosRuleTypes } from './resources/qos-rule-types.js';
import { registerQosRules } from './resources/qos-rules.js';
import { registerQuotas } from './resources/quotas.js';
import { floatingIps } from './resources/floating-ips.js';
import { networks } from './resources/networks.js';
import { registerPortForwardings } from './resources/port-forwardings.js';
import { ports } from './resources/ports.js';
import { registerRouterInterfaces, routers } from './resources/routers.js';
import { subnets } from './resources/subnets.js';
import { registerVersions } from './versions.js';
import { registerJsonBodyParser } from './json-body.js';
import { DEFAULT_PUBLIC_URL, type PublicUrl } from './public-url.js';
import { LazyValidators, rememberValidators } from './lazy-validation.js';

export interface ApiOptions {
  readonly store: Store;
  readonly logger?: Logger | false;
  /** `token` (default): every request needs a valid X-Auth-Token. `none`: everyone is admin (development only). */
  readonly auth?: AuthMode;
  /** Largest request body accepted, in bytes. Default 256 KiB. */
  readonly bodyLimit?: number;
  /** Serve /openapi.json and /docs. Default true. */
  readonly docs?: boolean;
  /**
   * Extra readiness condition, given the routers in the store, e.g. "the agent has reconciled each of them
   * once". Without it, ready means the store answers.
   */
  readonly ready?: (
    routerIds: readonly string[],
  ) => { ready: boolean; detail: string } | Promise<{ ready: boolean; detail: string }>;
  /**
   * How long a client may take to send a whole request (headers and body). Default 30 s; headers alone get at
   * most 10 s. A slow or stalled client cannot hold a connection longer than this.
   */
  readonly requestTimeoutMs?: number;
  /** Serve HTTPS with this certificate chain and key (PEM). */
  readonly https?: { readonly cert: Buffer; readonly key: Buffer };
  /** Requests per caller and window; absent means no limit. */
  readonly rateLimit?: RateLimit;
  /**
   * Refused requests (4xx) per source address and window before every request from it is answered 429; absent
   * or null means no limit (refusals are still counted to bound the audit log).
   */
  readonly refusalLimit?: RateLimit | null;
  /** Where clients reach the API, for absolute links (never the Host header). Default DEFAULT_PUBLIC_URL. */
  readonly publicUrl?: PublicUrl;
  /** Where every mutating request is recorded, and what to do when the record cannot be written. */
  readonly audit?: { readonly log: AuditLog; readonly onWriteError: (error: Error) => void };
  /**
   * In an API worker: the refusal limit and the audit log are the primary's, and the rate limit counts in the
   * primary's grants (src/daemon/api-workers.ts). Replaces `refusalLimit` and `audit`.
   */
  readonly shared?: {
    readonly records: RecordForwarding;
    readonly rateLimitStore: FastifyRateLimitStoreCtor;
  };
}

/** A caller's X-Request-Id is kept when it is short and plain, so logs can be joined across systems. */
const REQUEST_ID = /^[\w.:@-]{1,128}$/;

/** The Neutron-shaped HTTP API. Thin: it translates HTTP into model calls inside store transactions. */
export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const requestTimeout = options.requestTimeoutMs ?? 30_000;
  // Node checks these timeouts only every connectionsCheckingInterval (30 s by default), so a slow client would
  // outlive a short timeout by that much: check often enough for the timeout to mean what it says.
  const server = {
    requestTimeout,
    headersTimeout: Math.min(10_000, requestTimeout),
    connectionsCheckingInterval: Math.min(1000, requestTimeout / 2),
  };
  // Compiled on first use or by compileAll (lazy-validation.ts): not on the event loop of a daemon's start.
  const validators = new LazyValidators();
  const app = Fastify({
    ...(options.https ? { https: { ...options.https, ...server, minVersion: 'TLSv1.2' } } : { http: server }),
    requestTimeout,
    // An idle keep-alive connection is closed after 5 s, any silent socket after twice the request timeout.
    keepAliveTimeout: 5000,
    connectionTimeout: 2 * requestTimeout,
    loggerInstance: options.logger || undefined,
    logger: options.logger === false ? false : undefined,
    // Fastify logs "incoming request" and "request completed" for each request: two lines at info. One line,
    // written when the response is sent (see the onResponse hook), says everything both did.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? 256 * 1024,
    // Every request gets an id (the caller's X-Request-Id, or a new UUID); every log line of the request
    // carries it as reqId, and the response returns it in X-Request-Id.
    requestIdHeader: false,
    genReqId: (req: { headers: Record<string, string | string[] | undefined> }) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // Malformed URLs and overlong path parameters are refused by the router itself; answer them as Neutron would.
    frameworkErrors: frameworkErrorHandler,
    // openstacksdk given an endpoint ending in "/v2.0/" skips discovery and appends "v2.0/..." again; answering
    // that doubled prefix lets the endpoint be given with or without the version, with or without the slash.
    rewriteUrl: (request: { url?: string }) =>
      request.url?.startsWith('/v2.0/v2.0') ? request.url.slice('/v2.0'.length) : (request.url ?? '/'),
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false },
    },
    schemaController: { compilersFactory: { buildValidator: validators.buildValidator } },
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;
  rememberValidators(app, validators);
  app.setErrorHandler(errorHandler);
  registerJsonBodyParser(app);
  app.setNotFoundHandler(notFoundHandler);
  // Response schemas document the API; JSON.stringify serializes it, so a documentation slip cannot change a reply.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  // First, so that every answer (a refusal by the hooks below included) carries its request id.
  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  // Before the audit log's hooks, so a request's refusal is counted before it is recorded; before
  // authentication, so a limited source costs no token lookup.
  const audit = options.shared ? undefined : options.audit;
  if (options.shared) registerForwardedRecords(app, options.shared.records);
  const refusals =
    (options.refusalLimit && !options.shared) || audit
      ? registerRefusalLimit(app, new RefusalTracker({ limit: options.refusalLimit ?? null }), (bursts) => {
          if (audit) writeBursts(audit.log, bursts, audit.onWriteError);
        })
      : undefined;
  if (audit) registerAuditLog(app, audit.log, audit.onWriteError, refusals?.recordOf);
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        url: request.url,
        statusCode: reply.statusCode,
        responseTimeMs: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request',
    );
  });
  registerAuth(app, options.auth ?? 'token', options.store.tokens);
  // After authentication (preHandler), so a caller is its token.
  if (options.rateLimit) await registerRateLimit(app, options.rateLimit, options.shared?.rateLimitStore);
  if (options.docs ?? true) await registerOpenApi(app);
  const publicUrl = options.publicUrl ?? (() => DEFAULT_PUBLIC_URL);
  registerVersions(app, publicUrl);
  registerExtensions(app);
  for (const def of [networks, subnets, ports, routers, floatingIps, qosPolicies, bgpSpeakers, bgpPeers]) {
    registerResource(app, options.store, def as Parameters<typeof registerResource>[2], publicUrl);
  }
  registerRouterInterfaces(app, options.store);
  registerPortForwardings(app, options.store);
  registerQosRules(app, options.store);
  registerQosRuleTypes(app);
  registerBgpSpeakerActions(app, options.store);
  registerAgents(app, options.store);
  registerFloatingIpPools(app, options.store);
  registerQuotas(app, options.store);
  registerProjects(app, options.store);
  const config = { public: true };
  app.get('/healthz', { config, schema: { hide: true } }, async () => ({ status: 'ok' }));
  // Ready: the store answers and (with an agent) every router in it has been reconciled at least once.
  app.get('/readyz', { config, schema: { hide: true } }, async (request, reply) => {
    let routerIds: string[];
    try {
      routerIds = await options.store.read((view) => view.list('router').map((r) => r.id));
    } catch (error) {
      request.log.warn({ err: (error as Error).message }, 'readiness: store unreachable');
      return reply
        .status(503)
        .send({ status: 'not ready', detail: `store unreachable: ${(error as Error).message}` });
    }
    const state = (await options.ready?.(routerIds)) ?? {
      ready: true,
      detail: 'store reachable; no agent in this process',
    };
    return reply
      .status(state.ready ? 200 : 503)
      .send({ status: state.ready ? 'ready' : 'not ready', detail: state.detail });
  });
  return app;
}
