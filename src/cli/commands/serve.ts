import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseDaemonBackend } from '../../model/index.js';
import {
  DEFAULT_RATE_LIMIT,
  DEFAULT_REFUSAL_LIMIT,
  formatRateLimit,
  parseRateLimit,
  type RateLimit,
} from '../../api/rate-limit-spec.js';
import { parsePublicUrl } from '../../api/public-url.js';
import { DEFAULT_ROTATION } from '../../fs/rotating-log-file.js';
import { durationOption, parseDuration } from '../option-helpers.js';

export { parseDuration };

/** A listen address: an IP address, or a host name (such as localhost) that resolves to one. */
export function parseListenHost(text: string): string {
  if (
    isIP(text) !== 0 ||
    /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*$/.test(text)
  ) {
    return text;
  }
  throw new InvalidArgumentError(`'${text}' is not a listen address: expected an IP address or a host name`);
}

/** Lease TTLs are whole seconds in etcd. */
export function parseTtl(text: string): number {
  const ms = parseDuration(text);
  if (ms < 1000 || ms % 1000 !== 0) {
    throw new InvalidArgumentError(
      `'${text}' is not a lease TTL: expected whole seconds, at least 1s (e.g. 3s)`,
    );
  }
  return ms / 1000;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) {
    throw new InvalidArgumentError(`'${text}' is not a TCP port (0-65535; 0 picks a free one)`);
  }
  return port;
}

const DEFAULT_BODY_LIMIT = 256 * 1024;

function parseSize(text: string): number {
  const m = /^(\d+)(|k|KiB|M|MiB)$/.exec(text);
  if (!m) throw new InvalidArgumentError(`'${text}' is not a size: expected bytes, or e.g. 256KiB or 1MiB`);
  return (
    Number(m[1]) * ({ '': 1, k: 1024, KiB: 1024, M: 1 << 20, MiB: 1 << 20 } as Record<string, number>)[m[2]!]!
  );
}

/** `ADDR:PORT` (`127.0.0.1:9100`, `[::1]:9100`, `localhost:9100`) for a second listener. */
export function parseListenAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d+)$/.exec(text);
  if (!m)
    throw new InvalidArgumentError(
      `'${text}' is not a listen address: expected ADDR:PORT such as 127.0.0.1:9100`,
    );
  const host = m[1] ?? m[2]!;
  if (m[1] !== undefined && isIP(host) !== 6) {
    throw new InvalidArgumentError(
      `'${text}' is not a listen address: '${host}' in brackets is not an IPv6 address`,
    );
  }
  return { host: parseListenHost(host), port: parsePort(m[3]!) };
}

function parseFileCount(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 1000) {
    throw new InvalidArgumentError(
      `'${text}' is not a number of files: expected a whole number from 1 to 1000`,
    );
  }
  return n;
}

const MAX_API_WORKERS = 64;

function parseApiWorkers(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > MAX_API_WORKERS) {
    throw new InvalidArgumentError(
      `'${text}' is not a number of API workers: expected a whole number from 0 (the API in the agent's process) to ${MAX_API_WORKERS}`,
    );
  }
  return n;
}

function parsePublicUrlOption(text: string): string {
  try {
    return parsePublicUrl(text);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function parseRateLimitOption(text: string): RateLimit | null {
  if (text === 'off') return null;
  try {
    return parseRateLimit(text);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('Run the Neutron-compatible API and the agent (the daemon)')
    .option(
      '--host <address>',
      'listen address (any with token auth; loopback only with --no-auth)',
      parseListenHost,
      '127.0.0.1',
    )
    .option('--port <port>', 'listen port (Neutron uses 9696)', parsePort, 9696)
    .option(
      '--state-dir <dir>',
      'where the SQLite database and agent state live',
      process.env.SFIP_STATE_DIR ?? '/var/lib/sfip',
    )
    .option(
      '--store <spec>',
      'store: sqlite:PATH (default: STATE_DIR/sfip.db) or etcd://HOST:PORT[,HOST:PORT...][/PREFIX/] for many nodes',
    )
    .option('--node <name>', 'with etcd: the node name of the in-process agent (default: the host name)')
    .addOption(
      new Option('--lease-ttl <duration>', "with etcd: the agent's liveness lease")
        .argParser(parseTtl)
        .default(3, '3s'),
    )
    .option('--backend <name>', 'default dataplane backend', 'nftables')
    .addOption(
      durationOption(
        '--resync-interval <duration>',
        'how often to re-read the kernel and repair drift',
        30_000,
      ),
    )
    .option('--no-garp', 'do not send gratuitous ARP on association')
    .option(
      '--no-conntrack-cleanup',
      'do not delete conntrack entries a mapping change made stale (only to demonstrate the leak it prevents)',
    )
    .option('--no-agent', 'run only the API')
    .option('--no-auth', 'development only: no tokens, every client is admin (refused unless on loopback)')
    .option('--log-level <level>', 'trace, debug, info, warn, error', 'info')
    .option(
      '--dashboard-token <token>',
      'token for the dashboard and `sfip top` (default: STATE_DIR/dashboard-token, generated on first start)',
      process.env.SFIP_DASHBOARD_TOKEN,
    )
    .addOption(
      durationOption(
        '--counters-cache <duration>',
        'how long one read of the per-floating-IP counters serves /metrics and the dashboard',
        1000,
      ),
    )
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate chain (with --tls-key)')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert')
    .addOption(
      durationOption(
        '--request-timeout <duration>',
        'how long a client may take to send a whole request',
        30_000,
      ),
    )
    .addOption(
      new Option('--max-body-size <size>', 'largest request body accepted, e.g. 256KiB or 1MiB (413 beyond)')
        .argParser(parseSize)
        .default(DEFAULT_BODY_LIMIT, '256KiB'),
    )
    .addOption(
      new Option(
        '--rate-limit <limit>',
        'requests per caller (token) and window, REQUESTS/DURATION; off for none (429 beyond)',
      )
        .argParser(parseRateLimitOption)
        .default(DEFAULT_RATE_LIMIT, formatRateLimit(DEFAULT_RATE_LIMIT)),
    )
    .option(
      '--metrics-listen <addr:port>',
      'serve /metrics on this address instead of the API address, e.g. 127.0.0.1:9100 (the same tokens apply)',
      parseListenAddress,
    )
    .addOption(
      new Option(
        '--refusal-limit <limit>',
        'refused requests (4xx) per source address and window, REQUESTS/DURATION; off for none (429 beyond, before the token is checked)',
      )
        .argParser(parseRateLimitOption)
        .default(DEFAULT_REFUSAL_LIMIT, formatRateLimit(DEFAULT_REFUSAL_LIMIT)),
    )
    .option('--audit-log <file>', 'where every mutating request is recorded (default: STATE_DIR/audit.log)')
    .addOption(
      new Option(
        '--audit-log-max-size <size>',
        'rotate the audit log at this size, e.g. 64MiB; 0 never rotates (leave it to logrotate, which sends SIGHUP)',
      )
        .argParser(parseSize)
        .default(DEFAULT_ROTATION.maxBytes, `${DEFAULT_ROTATION.maxBytes / 1024 / 1024}MiB`),
    )
    .option(
      '--audit-log-files <count>',
      'rotated audit logs kept (FILE.1 … FILE.N); older ones are deleted',
      parseFileCount,
      DEFAULT_ROTATION.files,
    )
    .addOption(
      new Option(
        '--api-workers <count>',
        "API processes sharing the port, apart from the agent; 0 serves the API in the agent's process",
      )
        .argParser(parseApiWorkers)
        .default(availableParallelism(), 'the number of cores'),
    )
    .option(
      '--public-url <url>',
      'where clients reach the API, for links in responses (default: the listen address; never the Host header)',
      parsePublicUrlOption,
    )
    .action(async (o: Record<string, unknown>) => {
      if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) {
        throw new InvalidArgumentError('--tls-cert and --tls-key go together: give both, or neither');
      }
      // Loaded here, not at the top: every other sfip command starts without Fastify, the agent and the dataplanes.
      const [{ createLogger }, { serve }, { installSpawnServer }] = await Promise.all([
        import('../../daemon/logger.js'),
        import('../../daemon/serve.js'),
        import('../../exec/spawn-client.js'),
      ]);
      const log = createLogger(String(o.logLevel));
      // The agent's programs start in a spawn server, off this process's event loop (src/exec/spawn-client.ts).
      const spawner = o.agent
        ? installSpawnServer({ warn: (message) => log.warn({ component: 'exec' }, message) })
        : undefined;
      const server = await serve({
        host: String(o.host),
        port: Number(o.port),
        stateDir: String(o.stateDir),
        ...(o.store !== undefined && { store: String(o.store) }),
        backend: parseDaemonBackend(o.backend),
        resyncIntervalMs: Number(o.resyncInterval),
        garp: Boolean(o.garp),
        // Unset unless --no-conntrack-cleanup: serve decides (the fake dataplane has no conntrack to clean).
        ...(o.conntrackCleanup === false && { conntrackCleanup: false }),
        agent: Boolean(o.agent),
        auth: o.auth === false ? 'none' : 'token',
        ...(o.dashboardToken !== undefined && { dashboardToken: String(o.dashboardToken) }),
        countersCacheMs: Number(o.countersCache),
        ...(o.node !== undefined && { node: String(o.node) }),
        leaseTtlSeconds: Number(o.leaseTtl),
        ...(o.tlsCert !== undefined && { tls: { certPath: String(o.tlsCert), keyPath: String(o.tlsKey) } }),
        requestTimeoutMs: Number(o.requestTimeout),
        bodyLimit: Number(o.maxBodySize),
        rateLimit: o.rateLimit as RateLimit | null,
        refusalLimit: o.refusalLimit as RateLimit | null,
        ...(o.auditLog !== undefined && { auditLogPath: String(o.auditLog) }),
        auditLogRotation: { maxBytes: Number(o.auditLogMaxSize), files: Number(o.auditLogFiles) },
        ...(o.publicUrl !== undefined && { publicUrl: String(o.publicUrl) }),
        ...(o.metricsListen !== undefined && {
          metricsListen: o.metricsListen as { host: string; port: number },
        }),
        apiWorkers: Number(o.apiWorkers),
        log,
      });
      // Runs until a signal; then the API and agent stop, and the kernel keeps forwarding what it has.
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log.info({ signal }, 'stopping; the kernel keeps forwarding what it has');
          void server.close().then(() => {
            spawner?.close();
            resolve();
          });
        };
        // logrotate moves the audit log away, then sends SIGHUP: continue in a new file at the same path.
        process.on('SIGHUP', () => {
          try {
            server.reopenLogs();
            log.info('SIGHUP: reopened the audit log');
          } catch (error) {
            log.error({ err: (error as Error).message }, 'SIGHUP: cannot reopen the audit log');
          }
        });
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    });
}
