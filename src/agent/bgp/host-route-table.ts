import { ExecError, run } from '../../exec/run.js';
import {
  CHANNEL_MAX_BYTES,
  sharedChannels,
  type NetnsChannels,
} from '../../dataplane/common/netns-channels.js';
import type { IPv4 } from '../../model/index.js';

/** One host route: its next hop, and whether it is a standby's (announced with a longer AS path). */
export interface HostRoute {
  readonly via: IPv4;
  readonly standby: boolean;
}

/** Destination (`a.b.c.d/32`) → route. */
export type HostRoutes = ReadonlyMap<string, HostRoute>;

/**
 * The kernel route protocol (`ip route … proto N`) that marks a standby's host route, which BIRD reads as
 * `krt_source` to prepend the AS path (bird-config.ts). Owner routes are `proto static` (4). 201 is not in
 * iproute2's rt_protos, so `ip -j route` shows it as the number.
 */
export const STANDBY_ROUTE_PROTO = 201;

const sameRoute = (a: HostRoute | undefined, b: HostRoute) => a?.via === b.via && a.standby === b.standby;

/**
 * The kernel routing table BIRD learns the host routes from. The agent keeps it equal to what it should
 * announce, writing only differences through the namespace's long-lived `ip -batch` channel (a large change,
 * such as 100,000 routes at start, through one `ip -batch` process of its own). After a failed write the table
 * is read again before the next one, since the agent cannot know how much of it the kernel took.
 */
export class HostRouteTable {
  private installed: Map<string, HostRoute> | undefined;

  constructor(
    private readonly namespace: string | null,
    readonly table: number,
    private readonly channels: NetnsChannels = sharedChannels,
  ) {}

  /** What the table holds now, read from the kernel. */
  async read(): Promise<Map<string, HostRoute>> {
    let stdout: string;
    try {
      ({ stdout } = await run('ip', ['-j', 'route', 'show', 'table', String(this.table)], {
        netns: this.namespace,
      }));
    } catch (error) {
      // The kernel creates a table with its first route: none yet means empty.
      if (error instanceof ExecError && /FIB table does not exist/.test(error.stderr)) return new Map();
      throw error;
    }
    const routes = new Map<string, HostRoute>();
    for (const r of JSON.parse(stdout || '[]') as { dst?: string; gateway?: string; protocol?: string }[]) {
      if (!r.dst || !r.gateway) continue;
      routes.set(r.dst.includes('/') ? r.dst : `${r.dst}/32`, {
        via: r.gateway as IPv4,
        standby: r.protocol === String(STANDBY_ROUTE_PROTO),
      });
    }
    return routes;
  }

  /** Makes the table hold exactly `desired`; returns how many routes were added or changed, and removed. */
  async apply(desired: HostRoutes): Promise<{ added: number; removed: number }> {
    const installed = (this.installed ??= await this.read());
    const lines: string[] = [];
    let added = 0;
    let removed = 0;
    for (const [dst, route] of desired) {
      if (sameRoute(installed.get(dst), route)) continue;
      // `replace` changes the protocol too: a standby taking over turns its route into an owner's in place.
      const proto = route.standby ? STANDBY_ROUTE_PROTO : 'static';
      lines.push(`route replace ${dst} via ${route.via} table ${this.table} proto ${proto}`);
      added += 1;
    }
    for (const dst of installed.keys()) {
      if (desired.has(dst)) continue;
      lines.push(`route del ${dst} table ${this.table}`);
      removed += 1;
    }
    if (lines.length === 0) return { added, removed };
    const batch = `${lines.join('\n')}\n`;
    try {
      if (batch.length <= CHANNEL_MAX_BYTES) await this.channels.ip(this.namespace, batch);
      else await run('ip', ['-force', '-batch', '-'], { netns: this.namespace, input: batch });
    } catch (error) {
      this.installed = undefined;
      throw error;
    }
    this.installed = new Map(desired);
    return { added, removed };
  }

  /** Forgets what it believes is installed: the next apply reads the kernel first. */
  invalidate(): void {
    this.installed = undefined;
  }
}
