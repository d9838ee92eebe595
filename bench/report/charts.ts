import { join } from 'node:path';
import type { BenchResults } from '../results.js';
import { forwardingCells } from './forwarding-table.js';
import { lines, lineWithBand, writeChart } from './plots.js';

/** Writes every plot of a run into `dir`; returns the file names. */
export async function writeCharts(r: BenchResults, dir: string): Promise<string[]> {
  const written: string[] = [];
  const chart = async (name: string, spec: Parameters<typeof writeChart>[1]) => {
    await writeChart(join(dir, name), spec);
    written.push(name);
  };
  if (r.forwarding) {
    // Plotted for 64-byte frames; the 1,500-byte figures are in the tables.
    const cells = forwardingCells(r.forwarding).filter((c) => c.ipBytes === 46);
    for (const pattern of ['one-flow', 'new-flows']) {
      const rows = cells
        .filter((c) => c.pattern === pattern)
        .map((c) => ({
          config: c.config,
          fips: c.fips,
          median: c.nsPerPacket.median,
          min: c.nsPerPacket.min,
          max: c.nsPerPacket.max,
        }));
      await chart(
        `forwarding-${pattern}.png`,
        lineWithBand(
          `Router CPU per packet, ${pattern === 'one-flow' ? 'one long flow' : 'every packet a new flow'} (median, min–max band)`,
          rows,
          'fips',
          'floating IPs installed',
          'median',
          'ns per delivered packet',
          true,
        ),
      );
    }
  }
  if (r.exhaustion) {
    const rows = r.exhaustion.points.map((p) => ({
      config: p.config,
      t: Number(p.t.toFixed(2)),
      deliveredPct: p.offered > 0 ? (100 * p.delivered) / p.offered : 100,
      entries: p.conntrackEntries,
    }));
    await chart(
      'exhaustion-delivery.png',
      lines(
        `Delivered share of new flows, nf_conntrack_max = ${r.exhaustion.options.conntrackMax}`,
        rows,
        't',
        'seconds since traffic started',
        'deliveredPct',
        'delivered so far (%)',
      ),
    );
    await chart(
      'exhaustion-conntrack.png',
      lines('Conntrack entries in each router namespace', rows, 't', 'seconds', 'entries', 'entries'),
    );
  }
  if (r.control && r.control.points.length > 0) {
    const rows = r.control.points.flatMap((p) => [
      { config: 'converge from empty (ms)', fips: p.fips, value: p.convergeMs },
      { config: 'restart resync (ms)', fips: p.fips, value: p.restartResyncMs },
      { config: 'associate→traffic p99 (ms)', fips: p.fips, value: p.latencyP99Ms },
    ]);
    await chart('control-plane.png', {
      ...lines(
        'Control plane against floating IPs installed',
        rows,
        'fips',
        'floating IPs',
        'value',
        'milliseconds',
      ),
      encoding: {
        x: { field: 'fips', type: 'quantitative', title: 'floating IPs', scale: { type: 'log' } },
        y: { field: 'value', type: 'quantitative', title: 'milliseconds', scale: { type: 'log' } },
        color: { field: 'config', type: 'nominal', title: 'measure' },
      },
    });
  }
  return written;
}
