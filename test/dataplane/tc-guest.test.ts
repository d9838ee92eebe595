/**
 * The tc backend in a kernel that has act_nat. The host kernel has none, so this boots Debian's cloud kernel under
 * qemu (scripts/guest/run.sh), runs the guest test files inside it with this project and node, and reports each
 * guest test here under its own name. See docs/tc.md for what runs where. The same boot also runs the nftables
 * backend's conformance and wire suites: that kernel is Debian 12's own (6.1), the default backend's target.
 */
import assert from 'node:assert/strict';
import { spawnProgram as spawn } from '../../src/exec/spawn.js';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { allowFileTime } from '../support/exit-watchdog.js';
import { parseTap, type TapResult } from '../support/tap.js';
import { recordWireResults } from '../support/wire-matrix.js';
import { TC_WIRE_KNOWN_FAILURES } from '../guest/tc-wire-limits.js';

const root = join(import.meta.dirname, '..', '..');
const GUEST_FILES = [
  'test/guest/tc.conformance.guest.ts',
  'test/guest/seed-recipe.guest.ts',
  'test/guest/tc-layouts.guest.ts',
  // The shared QoS wire suite, once: police actions need act_police, which only the guest kernel has.
  'test/guest/tc.qos-wire.guest.ts',
  // The shared wire suite (its section of docs/wire-matrix.md is written here, from the guest's results), and what
  // act_nat leaves stale in a translated ICMP error (tc-icmp-quote.ts, in the same file).
  'test/guest/tc.wire.guest.ts',
  // The default backend on Debian 12's own kernel (6.1), which refused its table while rules used the translation
  // maps as sets (src/dataplane/nftables/membership.ts): the conformance and wire suites.
  'test/guest/nftables.conformance.guest.ts',
  'test/guest/nftables.wire.guest.ts',
  // Port forwardings' key sets on 6.1, applied and read back (about 20 s there; the PF wire suite's agent would
  // need a TCG-sized resync interval, which it has no option for).
  'test/dataplane/nftables-pf-readback.test.ts',
];
/**
 * The conformance suite alone has 13 cases, the QoS wire suite 10, the wire suite 12, and for nftables the
 * conformance suite 14, the wire suite 12 and the PF read-back 2; fewer results means something did not run.
 */
const MIN_RESULTS = 73;
const WIRE_SUITE = 'wire correctness: tc > ';
const GUEST_TIMEOUT_S = 2400;
// Booting qemu and running three suites in it takes minutes, far more on a loaded machine.
allowFileTime((GUEST_TIMEOUT_S + 300) * 1000);

function runInGuest(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      'bash',
      [
        'scripts/guest/run.sh',
        '--timeout',
        String(GUEST_TIMEOUT_S),
        '--',
        'node',
        '--import',
        'tsx',
        '--test',
        '--test-concurrency=1',
        '--test-reporter=tap',
        ...GUEST_FILES,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe(
  'tc backend inside a kernel with act_nat (Debian cloud kernel under qemu)',
  { timeout: (GUEST_TIMEOUT_S + 120) * 1000 },
  () => {
    it('boots the guest and runs the conformance, QoS and wire suites, the seed regression and the layout cases, and the nftables conformance and wire suites', async (t) => {
      const { code, stdout, stderr } = await runInGuest();
      const results = parseTap(stdout);
      for (const r of results) {
        await t.test(r.name, { skip: r.skipped }, () => {
          // A file that died of a signal leaves no test output of its own: what it printed on stderr (node's
          // runner passes it on as TAP comments) and what the guest kernel said (run.sh) are all there is.
          const died = /^signal: /m.test(r.detail);
          if (!r.ok)
            assert.fail(
              `failed in the guest:\n${r.detail}` +
                (died ? `\nguest output:\n${outputComments(stdout)}\n${stderr.slice(-4000)}` : ''),
            );
        });
      }
      const timing = stderr.split('\n').find((l) => l.startsWith('run.sh: image built')) ?? '';
      t.diagnostic(timing);
      assert.ok(
        results.length >= MIN_RESULTS,
        `only ${results.length} guest results (want at least ${MIN_RESULTS}); guest output:\n${outputComments(stdout)}\nguest stderr:\n${stderr.slice(-4000)}`,
      );
      assert.equal(code, 0, `the guest run failed (exit ${code}):\n${stderr.slice(-4000)}`);
      recordGuestWireResults(results, /kernel ([^\s;]+)/.exec(timing)?.[1] ?? 'unknown (guest)');
    });
  },
);

/** The TAP comments that are not node's own structure or summary lines: the guest files' stdout and stderr. */
function outputComments(tap: string): string {
  const own = /^\s*# (Subtest: |(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) )/;
  return tap
    .split('\n')
    .filter((l) => /^\s*# /.test(l) && !own.test(l))
    .slice(-60)
    .join('\n');
}

/**
 * The tc section of docs/wire-matrix.md, as the other backends' suites write theirs. Only a complete, passing run is
 * recorded; a case passes in the guest either by holding or, if it is a known failure, by failing as it must.
 */
function recordGuestWireResults(results: readonly TapResult[], kernel: string): void {
  const wire = results.flatMap((r) => {
    const at = r.name.indexOf(WIRE_SUITE);
    return at < 0 ? [] : [{ ...r, name: r.name.slice(at + WIRE_SUITE.length) }];
  });
  if (wire.length === 0 || wire.some((r) => !r.ok || r.skipped)) return;
  const known = TC_WIRE_KNOWN_FAILURES as Record<string, string | undefined>;
  recordWireResults(
    'tc (in the act_nat guest)',
    new Map(wire.map((r) => [r.name, known[r.name] ? `fails: ${known[r.name]}` : 'pass'])),
    `${kernel} (Debian's cloud kernel under qemu)`,
  );
}
