import assert from 'node:assert/strict';
import { execFileProgram as execFile } from '../../src/exec/spawn.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ScaleRun } from '../../bench/control/run-scale-suite.js';

/**
 * The opt-in suites of issues 15 and 18 (control plane at scale, port forwarding) end to end with tiny counts,
 * so that their harness cannot rot: every measure ran and its numbers add up. Never how fast anything is.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'sfip-bench-opt-in-'));

describe('npm run bench --only scale,port-forwarding (smoke profile)', { timeout: 300_000 }, () => {
  after(() => rmSync(out, { recursive: true, force: true }));
  let scale: ScaleRun[];
  let doc: string;

  it('runs both suites and writes their sections', async () => {
    const prefix = `tkbo${process.pid % 1000}`;
    await new Promise<void>((resolve, reject) =>
      execFile(
        process.execPath,
        [
          '--import',
          'tsx',
          'bench/main.ts',
          '--profile',
          'smoke',
          '--only',
          'scale,port-forwarding',
          '--backends',
          'nftables',
          '--prefix',
          prefix,
          '--out',
          out,
          '--port',
          String(21000 + (process.pid % 10000)),
        ],
        { cwd: ROOT, timeout: 280_000 },
        (error, _stdout, stderr) => (error ? reject(new Error(`bench failed: ${stderr}`)) : resolve()),
      ),
    );
    doc = readFileSync(join(out, 'benchmarks.md'), 'utf8');
    assert.match(doc, /<!-- control-scale:start -->/);
    assert.match(
      readFileSync(join(out, 'benchmarks', 'port-forwarding.md'), 'utf8'),
      /port forwarding \(nftables, stateless\)/,
    );
    scale = (
      JSON.parse(readFileSync(join(out, 'benchmarks', 'control-scale.json'), 'utf8')) as { runs: ScaleRun[] }
    ).runs;
  });

  it('measured both topologies: one router, and several routers each with its own gateway', () => {
    assert.deepEqual(
      scale.map((r) => [r.backend, r.points.map((p) => `${p.routers ?? 1}x${p.fips}`)]),
      [
        ['nftables', ['1x100']],
        ['nftables', ['4x100']],
      ],
    );
  });

  it('measured associate, disassociate, scrape, fill, churn and restart with numbers that add up', () => {
    for (const run of scale) {
      const [p] = run.points;
      assert.ok(p, 'one point per topology');
      const where = `${p.routers} routers`;
      assert.equal(p.kernelMappings, p.fips, `${where}: every populated floating IP reached the kernel`);
      // Every sample got its reply: on several routers, the probes went to each router's own floating IPs.
      assert.equal(p.latenciesMs.length, 6, `${where}: every associate sample answered`);
      assert.equal(p.latencyFailures, 0);
      assert.equal(p.stopSamples, 6, `${where}: traffic stopped after every disassociation`);
      assert.ok(p.latenciesMs.every((ms) => ms >= 0));
      assert.ok(p.scrape && p.scrape.scrapes > 0 && p.scrape.shows > 0, `${where}: scrapes and shows ran`);
      assert.equal(p.fill?.count, 50);
      assert.equal(p.fill.active, undefined, `${where}: the fill finished within its budget`);
      assert.ok(p.fill.ms > 0);
      assert.equal(p.fill.bulkSize, undefined, `${where}: the first fill is one item a request`);
      // The bulk fill: as many again, in requests of 100 (so here one request of ports and one of floating IPs).
      assert.equal(p.bulkFill?.count, 50);
      assert.equal(p.bulkFill.bulkSize, 100);
      assert.equal(p.bulkFill.active, undefined, `${where}: the bulk fill finished within its budget`);
      assert.ok(p.bulkFill.ms > 0);
      // Onto ports made before the timer: one floating IP a request, on as many new ports.
      assert.equal(p.ontoPortsFill?.count, 50);
      assert.equal(p.ontoPortsFill.ontoExistingPorts, true);
      assert.equal(
        p.ontoPortsFill.active,
        undefined,
        `${where}: the fill onto ports finished within its budget`,
      );
      // With the default API workers: on fresh workers, then warm, then onto ports (warm: the goal's figure).
      for (const f of [p.workersFillFresh, p.workersFill, p.workersOntoPortsFill]) {
        assert.equal(f?.count, 50, `${where}: the workers' three fills ran`);
        assert.ok(f.apiWorkers !== undefined && f.apiWorkers > 0);
        assert.equal(f.active, undefined, `${where}: the workers' fill finished within its budget`);
      }
      assert.equal(p.workersOntoPortsFill?.ontoExistingPorts, true);
      const churn = p.churn!;
      assert.equal(churn.refused, 0, 'the API refused no churn change');
      assert.equal(churn.changes, churn.targetPerSecond * churn.seconds);
      // Each change is observed applied once by the daemon's histogram (none coalesced away at this rate).
      assert.equal(churn.observed, churn.changes);
      assert.ok(Number.isFinite(churn.p99Ms) && churn.p99Ms >= churn.p50Ms);
      assert.ok(churn.cpuCores > 0);
      assert.equal(p.restartLost, 0, `${where}: no packet lost across the restart`);
      assert.ok((p.restartStreamMs ?? 0) >= p.restartResyncMs, `${where}: the stream outlasted the restart`);
    }
  });

  it('writes the goals table with a column per topology', () => {
    assert.match(doc, /\| measure \| goal \(issue 15\) \| 1 × 100, nftables \| 4 × 25, nftables \|/);
    assert.match(doc, /\| converge from empty \| ≤ 5 s \|/);
    // The fills, each its own named row; the goal's first.
    assert.match(
      doc,
      /\| fill through the API, agent running: a floating IP a request, for ports that exist \(VMs running\) \| ≥ 1,000/,
    );
    assert.match(
      doc,
      /\| fill through the API, agent running: one port, then one floating IP, a request \(2 requests a floating IP\) \| ≥ 1,000/,
    );
    assert.match(
      doc,
      /\| fill through the API, agent running: bulk requests \(ports, then floating IPs\) \| ≥ 1,000/,
    );
  });
});
