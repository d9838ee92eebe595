import { Command, InvalidArgumentError } from 'commander';
import { parseBackendName } from '../../model/index.js';

export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  if (!m) throw new InvalidArgumentError(`'${text}' is not a duration: expected e.g. 500ms, 10s or 1m`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm'];
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

export function serveCommand(): Command {
  return new Command('serve')
    .description('Run the Neutron-compatible API and the agent (the daemon)')
    .option(
      '--host <address>',
      'listen address (any with token auth; loopback only with --no-auth)',
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
    .option('--lease-ttl <duration>', "with etcd: the agent's liveness lease", parseTtl, 3)
    .option('--backend <name>', 'default dataplane backend', 'nftables')
    .option(
      '--resync-interval <duration>',
      'how often to re-read the kernel and repair drift',
      parseDuration,
      30_000,
    )
    .option('--no-garp', 'do not send gratuitous ARP on association')
    .option('--no-agent', 'run only the API')
    .option('--no-auth', 'development only: no tokens, every client is admin (refused unless on loopback)')
    .option('--log-level <level>', 'trace, debug, info, warn, error', 'info')
    .option(
      '--dashboard-token <token>',
      'token for the dashboard and `sfip top` (default: STATE_DIR/dashboard-token, generated on first start)',
      process.env.SFIP_DASHBOARD_TOKEN,
    )
    .option(
      '--counters-cache <duration>',
      'how long one read of the per-floating-IP counters serves /metrics and the dashboard',
      parseDuration,
      1000,
    )
    .action(async (o: Record<string, unknown>) => {
      // Loaded here, not at the top: every other sfip command starts without Fastify, the agent and the dataplanes.
      const [{ createLogger }, { serve }] = await Promise.all([
        import('../../daemon/logger.js'),
        import('../../daemon/serve.js'),
      ]);
      const log = createLogger(String(o.logLevel));
      const server = await serve({
        host: String(o.host),
        port: Number(o.port),
        stateDir: String(o.stateDir),
        ...(o.store !== undefined && { store: String(o.store) }),
        backend: parseBackendName(o.backend),
        resyncIntervalMs: Number(o.resyncInterval),
        garp: Boolean(o.garp),
        agent: Boolean(o.agent),
        auth: o.auth === false ? 'none' : 'token',
        ...(o.dashboardToken !== undefined && { dashboardToken: String(o.dashboardToken) }),
        countersCacheMs: Number(o.countersCache),
        ...(o.node !== undefined && { node: String(o.node) }),
        leaseTtlSeconds: Number(o.leaseTtl),
        log,
      });
      // Runs until a signal; then the API and agent stop, and the kernel keeps forwarding what it has.
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log.info({ signal }, 'stopping; the kernel keeps forwarding what it has');
          void server.close().then(resolve);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    });
}
