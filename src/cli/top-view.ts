import Table from 'cli-table3';
import { ago, bitsPerSecond, percent, si } from '../dashboard/format.js';
import type { RateTracker } from '../dashboard/rates.js';
import type { DashboardState } from '../dashboard/state-types.js';

export interface TopViewOptions {
  readonly url: string;
  readonly intervalMs: number;
  /** Terminal rows available for floating IPs per router; the busiest are shown first. */
  readonly rowsPerRouter: number;
  readonly color: boolean;
  readonly now?: number;
}

const plain = { head: [] as string[], border: [] as string[] };
const compact = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };

/** One screen of `sfip top`: the dashboard's view as text. Pure, so it can be tested without a terminal. */
export function renderTop(state: DashboardState, rates: RateTracker, options: TopViewOptions): string {
  const bold = (s: string) => (options.color ? `\x1b[1m${s}\x1b[0m` : s);
  const statusColor = (s: string) =>
    !options.color ? s : s === 'ACTIVE' ? `\x1b[32m${s}\x1b[0m` : s === 'ERROR' ? `\x1b[31m${s}\x1b[0m` : s;
  const lines: string[] = [];
  lines.push(
    `${bold('sfip top')}  ${options.url}  read ${ago(state.readAt, options.now)}, every ${options.intervalMs / 1000} s  (q quits)`,
  );
  for (const c of state.conntrack) {
    lines.push(
      `conntrack ${c.namespace ?? 'host'}: ${c.error ?? `${si(c.count)} of ${si(c.max)} (${percent(c.count, c.max)})`}`,
    );
  }
  for (const r of state.routers) {
    const last = r.lastReconcile;
    lines.push('');
    lines.push(
      `${bold(`router ${r.name || r.id}`)}  ${r.backend}, ${r.namespace ?? 'host'}, ${r.gatewayDevice ?? '-'}  ` +
        `${r.statusCounts.ACTIVE} ACTIVE ${r.statusCounts.DOWN} DOWN ${r.statusCounts.ERROR} ERROR`,
    );
    lines.push(
      `  last reconcile: ${last ? `${last.kind} (${last.cause}, ${last.durationMs} ms) ${ago(last.at, options.now)}` : 'not yet'}` +
        `; last successful apply ${ago(r.lastSuccessAt, options.now)}`,
    );
    if (r.problem) lines.push(`  problem: ${r.problem}`);
    if (last?.error) lines.push(`  error: ${last.error}`);
    if (r.countersError) lines.push(`  counters: ${r.countersError}`);
    const busiest = [...r.floatingIps].sort(
      (a, b) => load(rates, r.id, b.address) - load(rates, r.id, a.address),
    );
    const shown = busiest.slice(0, Math.max(1, options.rowsPerRouter));
    const table = new Table({
      head: [
        'floating IP',
        'fixed IP',
        'status',
        'in pps',
        'out pps',
        'in bit/s',
        'out bit/s',
        'packets in',
        'packets out',
      ],
      style: plain,
      chars: compact,
      colAligns: ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'],
    });
    for (const f of shown) {
      const rate = rates.rate(r.id, f.address);
      table.push([
        f.address,
        f.fixedIp ?? '-',
        statusColor(f.status),
        si(rate?.packetsInPerSec),
        si(rate?.packetsOutPerSec),
        bitsPerSecond(rate?.bytesInPerSec),
        bitsPerSecond(rate?.bytesOutPerSec),
        si(f.packetsIn),
        si(f.packetsOut),
      ]);
    }
    lines.push(table.toString());
    const hidden = r.floatingIps.length - shown.length + (r.truncated ? 1 : 0);
    if (hidden > 0) lines.push(`  … and ${r.truncated ? 'more than ' : ''}${hidden} more floating IPs`);
  }
  if (state.events.length > 0) {
    lines.push('', bold('recent events'));
    for (const e of state.events.slice(0, 5)) {
      // A name, or the whole id: UUIDv7 prefixes are the creation time, identical for routers made together.
      const router = state.routers.find((r) => r.id === e.routerId)?.name || e.routerId;
      lines.push(
        `  ${ago(e.at, options.now).padEnd(10)} ${router}  ${e.kind} (${e.cause}) +${e.added}/-${e.removed} ${e.durationMs} ms${e.error ? `  ${e.error}` : ''}`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

function load(rates: RateTracker, routerId: string, address: string): number {
  const r = rates.rate(routerId, address);
  return r ? r.packetsInPerSec + r.packetsOutPerSec : -1;
}
