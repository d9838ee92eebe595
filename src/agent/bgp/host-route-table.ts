import { ExecError, run } from '../../exec/run.js';
import {
  CHANNEL_MAX_BYTES,
  sharedChannels,
  type NetnsChannels,
} from '../../dataplane/common/netns-channels.js';
import type { IPv4 } from '../../model/index.js';

/** Destination (`a.b.c.d/32`) → next hop. */
export type HostRoutes = ReadonlyMap<string, IPv4>;

/**
 * The kernel routing table BIRD learns the host routes from. The agent keeps it equal to what it should
 * announce, writing only differences through the namespace's long-lived `ip -batch` channel (a large change,
 * such as 100,000 routes at start, through one `ip -batch` process of its own). After a failed write the table
 * is read again before the next one, since the agent cannot know how much of it the kernel took.
 */
export class HostRouteTable {
  private installed: Map<string, IPv4> | undefined;

  constructor(
    private readonly namespace: string | null,
    readonly table: number,
    private readonly channels: NetnsChannels = sharedChannels,
  ) {}

  /** What the table holds now, read from the kernel. */
  async read(): Promise<Map<string, IPv4>> {
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
    const routes = new Map<string, IPv4>();
    for (const r of JSON.parse(stdout || '[]') as { dst?: string; gateway?: string }[]) {
      if (r.dst && r.gateway) routes.set(r.dst.includes('/') ? r.dst : `${r.dst}/32`, r.gateway as IPv4);
    }
    return routes;
  }

  /** Makes the table hold exactly `desired`; returns how many routes were added or changed, and removed. */
  async apply(desired: HostRoutes): Promise<{ added: number; removed: number }> {
    const installed = (this.installed ??= await this.read());
    const lines: string[] = [];
    let added = 0;
    let removed = 0;
    for (const [dst, via] of desired) {
      if (installed.get(dst) === via) continue;
      lines.push(`route replace ${dst} via ${via} table ${this.table} proto static`);
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
