import type { IPv4 } from '../../model/index.js';
import { STANDBY_ROUTE_PROTO } from './host-route-table.js';

/** One BGP session as the agent configures it: a peer of a speaker that covers routers of this node. */
export interface BgpSession {
  /** BIRD protocol name: `peer_` and the peer address, so a session keeps its name across reconfigurations. */
  readonly name: string;
  readonly peerId: string;
  readonly peerIp: IPv4;
  readonly remoteAs: number;
  readonly localAs: number;
  readonly password: string | null;
}

export interface BirdConfig {
  readonly routerId: IPv4;
  /** The kernel routing table the agent writes host routes into and BIRD learns them from. */
  readonly kernelTable: number;
  readonly sessions: readonly BgpSession[];
  /** Each session also runs BFD (100 ms × 3) with its peer, which must run BFD too. */
  readonly bfd: boolean;
  /**
   * `gateway`: the next hop of each route as the agent wrote it (the router's gateway, or the configured node
   * address); `self`: the speaker's own address on the session.
   */
  readonly nextHop: 'keep' | 'self';
  /**
   * A standby's host routes (kernel protocol STANDBY_ROUTE_PROTO) go out with the local AS prepended this many
   * more times, so that every peer prefers the owner's route while it has one. Default 3.
   */
  readonly standbyPrepend?: number;
}

/**
 * 64 MiB: a route notification is about 100 bytes of netlink message, but the receive buffer counts each one's
 * whole socket buffer (several hundred bytes): 100,000 routes written at once take tens of MiB.
 */
const NETLINK_RX_BUFFER_BYTES = 64 * 1024 * 1024;

/** Hold time of every session, and the graceful restart time its peers are told. */
export const HOLD_TIME_SECONDS = 3;

export const sessionName = (peerIp: IPv4): string => `peer_${peerIp.replaceAll('.', '_')}`;

/**
 * BIRD 2's configuration. The host routes reach BIRD through the kernel: the agent writes them into one table,
 * which BIRD's kernel protocol learns (asynchronously, from netlink notifications, so a route is exported as soon
 * as it is written, and relearned by a restarted BIRD from the table). Graceful restart (RFC 4724) is on, so
 * that a crashed BIRD's peers keep its routes while it comes back, with a restart time no longer than the hold
 * time: a peer keeps a dead speaker's routes no longer than when the speaker falls silent (hold time or BFD; a
 * BFD or hold-timer failure is a hard failure in BIRD, not a graceful restart, so the BGP fence still withdraws
 * everything of a node that lost its lease). Every value comes from parsed, validated fields (addresses, AS
 * numbers, passwords without quotes or backslashes).
 */
export function renderBirdConfig(config: BirdConfig): string {
  const lines = [
    `router id ${config.routerId};`,
    'log stderr { warning, error, fatal };',
    'ipv4 table sfip_hosts;',
    'protocol device { scan time 10; }',
    'protocol kernel sfip_kernel {',
    `  kernel table ${config.kernelTable};`,
    '  learn;',
    '  scan time 10;',
    // Large enough for the notifications of 100,000 routes written in one batch: with the default (rmem_default,
    // about 200 KiB) the kernel drops most of them and BIRD only sees the routes at its next scan, 10 s later.
    `  netlink rx buffer ${NETLINK_RX_BUFFER_BYTES};`,
    '  ipv4 { table sfip_hosts; import filter { if net.len = 32 then accept; reject; }; export none; };',
    '}',
  ];
  if (config.bfd && config.sessions.length > 0) {
    lines.push('protocol bfd sfip_bfd {', '  interface "*" { interval 100 ms; multiplier 3; };', '}');
  }
  for (const s of config.sessions) {
    // The AS path decides before anything else a peer compares (local preference is not sent to an external
    // peer): the owner's path is one AS long, a standby's 1 + prepend.
    const prepend = Array.from(
      { length: config.standbyPrepend ?? 3 },
      () => `bgp_path.prepend(${s.localAs});`,
    ).join(' ');
    lines.push(
      `protocol bgp ${s.name} {`,
      `  description "${s.peerId}";`,
      `  local as ${s.localAs};`,
      `  neighbor ${s.peerIp} as ${s.remoteAs};`,
      ...(s.password !== null ? [`  password "${s.password}";`] : []),
      `  hold time ${HOLD_TIME_SECONDS};`,
      '  keepalive time 1;',
      '  connect retry time 1;',
      '  error wait time 1, 5;',
      '  graceful restart on;',
      `  graceful restart time ${HOLD_TIME_SECONDS};`,
      // A restarted BIRD connects at once (default: 5 s later), well within the restart time its peers wait.
      '  connect delay time 0;',
      ...(config.bfd ? ['  bfd on;'] : []),
      '  ipv4 {',
      '    table sfip_hosts;',
      '    import none;',
      `    export filter { if krt_source = ${STANDBY_ROUTE_PROTO} then { ${prepend} } accept; };`,
      `    next hop ${config.nextHop};`,
      '  };',
      '}',
    );
  }
  return `${lines.join('\n')}\n`;
}
