import assert from 'node:assert/strict';
import { execFileProgram as execFile } from '../../src/exec/spawn.js';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { benchRouterId } from '../../bench/forwarding/run-forwarding.js';
import type { BenchResults } from '../../bench/results.js';
import { PIN_ROOT } from '../../src/dataplane/ebpf/layout.js';

/**
 * The benchmark harness end to end with tiny counts, so it cannot rot. It checks that every suite ran and that
 * the numbers are sane (counts add up, nothing negative, state cleaned up), never how fast anything is.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'sfip-bench-smoke-'));
const readMax = () => Number(readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8'));

describe('npm run bench (smoke profile)', { timeout: 150_000 }, () => {
  after(() => rmSync(out, { recursive: true, force: true }));
  const conntrackMaxBefore = readMax();
  let results: BenchResults;

  it('runs every suite and writes results, plots and the document', async () => {
    // Another tool's section, which the generator must carry over.
    writeFileSync(
      join(out, 'benchmarks.md'),
      '# old\n<!-- api-bench:start -->\nAPI numbers\n<!-- api-bench:end -->\n',
    );
    const prefix = `tkbs${process.pid % 1000}`;
    await new Promise<void>((resolve, reject) =>
      execFile(
        process.execPath,
        [
          '--import',
          'tsx',
          'bench/main.ts',
          '--profile',
          'smoke',
          '--prefix',
          prefix,
          '--out',
          out,
          '--port',
          String(20000 + (process.pid % 10000)),
        ],
        { cwd: ROOT, timeout: 140_000 },
        (error, _stdout, stderr) => (error ? reject(new Error(`bench failed: ${stderr}`)) : resolve()),
      ),
    );
    results = JSON.parse(readFileSync(join(out, 'benchmarks', 'results.json'), 'utf8')) as BenchResults;
    const doc = readFileSync(join(out, 'benchmarks.md'), 'utf8');
    assert.match(doc, /## Forwarding/);
    assert.match(doc, /<!-- api-bench:start -->\nAPI numbers\n<!-- api-bench:end -->/);
    for (const png of [
      'forwarding-one-flow.png',
      'forwarding-new-flows.png',
      'exhaustion-delivery.png',
      'control-plane.png',
    ]) {
      const head = readFileSync(join(out, 'benchmarks', png)).subarray(0, 8);
      assert.deepEqual([...head], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${png} is a PNG`);
    }
  });

  it('measured every forwarding configuration with sane numbers', () => {
    const f = results.forwarding!;
    assert.ok(
      f.configs.includes('plain') && f.configs.includes('nftables') && f.configs.includes('iptables'),
    );
    const sizes = f.options.ipBytes.length;
    const expected = f.configs.length * 2 * f.options.fipCounts.length * f.options.repetitions * sizes;
    const costs = f.samples.filter((s) => !s.programTime);
    assert.equal(costs.length, expected);
    // Costs are taken with bpf_stats off (no program time), and each eBPF cell gets one more sample with it on.
    assert.ok(costs.every((s) => s.gwIngressNsPerRun === undefined));
    const ebpf = f.configs.filter((c) => c === 'ebpf' || c === 'ebpf-tcpath');
    const timed = f.samples.filter((s) => s.programTime);
    assert.equal(timed.length, ebpf.length * 2 * f.options.fipCounts.length * sizes);
    for (const s of timed) assert.ok((s.gwIngressNsPerRun ?? 0) > 0, `${s.config}: gw_ingress time recorded`);
    for (const s of f.samples) {
      assert.ok((s.netRxSoftirqs ?? -1) >= 0, `${s.config}: NET_RX softirqs recorded`);
      assert.ok(
        s.delivered > 0 && s.delivered <= s.sent,
        `${s.config} delivered ${s.delivered} of ${s.sent}`,
      );
      assert.ok(s.cpuNs >= 0 && s.wallMs > 0);
      assert.ok(Number.isNaN(s.nsPerPacket) || s.nsPerPacket >= 0);
    }
  });

  it('left no pinned eBPF state of its routers behind', () => {
    // The forwarding and exhaustion suites' eBPF routers outlive their namespaces in bpffs unless removed.
    for (const config of ['ebpf', 'ebpf-tcpath'])
      assert.equal(existsSync(join(PIN_ROOT, benchRouterId(config))), false, `${config}: pins left behind`);
  });

  it('saw conntrack fill for the stateful backend only, and restored nf_conntrack_max', () => {
    const e = results.exhaustion!;
    const by = new Map(e.totals.map((t) => [t.config, t]));
    assert.equal(by.get('nftables')!.maxEntries, 0);
    assert.ok(by.get('iptables')!.maxEntries > 0);
    assert.ok(by.get('nftables')!.delivered > by.get('iptables')!.delivered);
    assert.equal(readMax(), conntrackMaxBefore);
  });

  it('converged, measured associate latencies and a restart, and switched backends cleanly', () => {
    for (const p of results.control!.points) {
      assert.equal(p.kernelMappings, p.fips);
      assert.equal(p.latenciesMs.length + p.latencyFailures, results.control!.options.latencySamples);
      assert.ok(p.convergeMs > 0 && p.rssMiB > 0 && p.restartSent > 0);
    }
    for (const step of results.backendSwitch!.steps) assert.equal(step.oldStateLeft, false);
    assert.equal(results.backendSwitch!.steps.at(-1)!.conntrackAfter, 0, 'stale entries survived the switch');
  });
});
