/**
 * Captures what the tc backend reads from a real act_nat kernel, for the host's read-back tests: it programs a small
 * router with the tc backend, then reads it again through a recording runner and prints every command with its
 * output as JSON. Run inside the guest:
 *
 *   scripts/guest/run.sh -- node --import tsx scripts/guest/capture-tc-fixture.ts > test/golden/tc-read-fixture.json
 */
import { run, type Runner } from '../../src/exec/run.js';
import { TcDataplane } from '../../src/dataplane/tc/tc-backend.js';
import { buildLab, destroyLab } from '../../src/lab/namespaces.js';
import { desiredFor, guestLab, mapping, reconcile } from '../../test/guest/guest-lab.js';

const spec = guestLab('tqf');
await destroyLab(spec);
await buildLab(spec);
try {
  const desired = desiredFor(spec, [
    mapping('203.0.113.11', '10.0.0.11'),
    mapping('203.0.113.12', '10.0.0.12'),
  ]);
  await reconcile(new TcDataplane(run, { probeNamespace: 'tqf-probe' }), desired);
  const calls: { argv: string[]; stdout: string; code: number }[] = [];
  const recording: Runner = async (file, args, options) => {
    const result = await run(file, args, options);
    // Timestamps in iptables-save comments change every run; they are not read.
    calls.push({ argv: [file, ...args], stdout: result.stdout.replace(/^# .*\n/gm, ''), code: result.code });
    return result;
  };
  await new TcDataplane(recording).read(desired, desired);
  process.stdout.write(JSON.stringify({ desired, calls }, null, 1) + '\n');
} finally {
  await destroyLab(spec);
}
