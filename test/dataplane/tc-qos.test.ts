/**
 * Floating-IP QoS on the tc backend, as text: police actions in front of the floating IP's own nat leaf, read back
 * from the JSON tc prints (recorded in the act_nat guest, with policers in the format the guest's tc printed for
 * them), and a limit change that replaces just that leaf. The wire behaviour runs in the guest
 * (test/guest/tc.qos-wire.guest.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { splitSteps } from '../../src/dataplane/tc/batch.js';
import { DEFAULT_TC_OPTIONS } from '../../src/dataplane/tc/options.js';
import { policeCookie } from '../../src/dataplane/tc/police.js';
import { planTc } from '../../src/dataplane/tc/plan.js';
import { TcDataplane } from '../../src/dataplane/tc/tc-backend.js';
import { ExecError, type Runner } from '../../src/exec/run.js';
import { limitsKey, type DesiredRouter, type RateLimit } from '../../src/dataplane/types.js';
import { emptyActual, replayRunner, tcReadFixture } from '../support/tc-fixture.js';

const TEN_MBIT: RateLimit[] = [
  { direction: 'egress', unit: 'kbit', rate: 10_000, burst: 8_000 },
  { direction: 'ingress', unit: 'kbit', rate: 10_000, burst: 8_000 },
  { direction: 'ingress', unit: 'packets', rate: 2_000, burst: 200 },
];

const tcText = (batch: string | null) =>
  splitSteps(batch ?? '')
    .filter((s) => s.tool === 'tc')
    .map((s) => s.text)
    .join('');

describe('tc backend QoS', () => {
  const fixture = tcReadFixture();
  const [first, second] = fixture.desired.mappings;
  const limited: DesiredRouter = {
    ...fixture.desired,
    mappings: [{ ...first!, limits: TEN_MBIT }, second!],
  };
  const cookie = limited.routerId.replace(/-/g, '');

  it('polices a limited floating IP before translating it, each direction in its own leaf', () => {
    const tc = tcText(planTc(limited, emptyActual(limited, []), DEFAULT_TC_OPTIONS).batch);
    const inbound = tc.split('\n').filter((l) => l.includes(`match ip dst ${first!.floatingIp}/32`));
    const outbound = tc.split('\n').filter((l) => l.includes(`match ip src ${first!.fixedIp}/32`));
    assert.equal(inbound.length, 1);
    assert.equal(outbound.length, 1);
    // The cookie: the router's tag, then rate 10000 (0x2710) and burst 8000 (0x1f40) kbit.
    const bandwidthCookie = `${cookie.slice(0, 16)}0000271000001f40`;
    assert.ok(
      inbound[0]!.includes(
        `match ip dst ${first!.floatingIp}/32 action police rate 10000kbit burst 8000kbit conform-exceed drop/pipe ` +
          `cookie ${bandwidthCookie} action police pkts_rate 2000 pkts_burst 200 conform-exceed drop/pipe cookie ` +
          `${cookie.slice(0, 16)}000007d0000000c8 action nat ingress ${first!.floatingIp}/32 ${first!.fixedIp} `,
      ),
      inbound[0],
    );
    assert.match(
      outbound[0]!,
      / action police rate 10000kbit burst 8000kbit conform-exceed drop\/pipe .* nat egress /,
    );
    assert.doesNotMatch(outbound[0]!, /pkts_rate/, 'the packet-rate limit is ingress only');
    // The unlimited floating IP has no policer, and hairpin trees never police.
    assert.equal(tc.split('\n').filter((l) => l.includes(' police ')).length, 2);
  });

  /** The recorded read, with policers put in front of leaf `handle`'s nat action, as tc -j prints them. */
  const withPolicers =
    (handle: string, limits: readonly RateLimit[], parentIndex: number) =>
    (argv: string[], stdout: string) => {
      if (argv.join(' ') !== 'tc -j -s -batch -') return stdout;
      const lists = stdout.split('\n');
      const list = JSON.parse(lists[parentIndex]!) as { options?: { fh?: string; actions?: unknown[] } }[];
      for (const f of list) {
        if (f.options?.fh !== handle) continue;
        const police = limits.map((l, i) => ({
          order: i + 1,
          kind: 'police',
          index: i + 1,
          ...(l.unit === 'packets' && { pkts_rate: l.rate, pkts_burst: l.burst }),
          control_action: { type: 'pipe' },
          overhead: 0,
          stats: { bytes: 0, packets: 0, drops: 0 },
          cookie: policeCookie(cookie, l),
        }));
        f.options.actions = [...police, ...(f.options.actions ?? [])];
      }
      lists[parentIndex] = JSON.stringify(list);
      return lists.join('\n');
    };

  const inboundLeafOf = async (fip: string) => {
    const actual = await new TcDataplane(replayRunner(fixture.calls)).read(fixture.desired, fixture.desired);
    const tree = actual.devices[0]!.trees.find((t) => t.kind === 'inbound')!;
    return tree.leaves.find((l) => l.key === fip)!.handle;
  };

  it('reads the policers back as the floating IP limits, and then has nothing to do', async () => {
    const ingress = TEN_MBIT.filter((l) => l.direction === 'ingress');
    const handle = await inboundLeafOf(first!.floatingIp);
    const dp = new TcDataplane(replayRunner(fixture.calls, withPolicers(handle, ingress, 0)));
    const onlyIngress: DesiredRouter = { ...limited, mappings: [{ ...first!, limits: ingress }, second!] };
    const actual = await dp.read(onlyIngress, onlyIngress);
    assert.deepEqual([...actual.limits!], [[first!.floatingIp, limitsKey(ingress)]]);
    assert.equal(dp.plan(onlyIngress, actual).batch, null);
  });

  it('a changed limit replaces that one leaf; a limit removed by hand is put back', async () => {
    const ingress = TEN_MBIT.filter((l) => l.direction === 'ingress');
    const handle = await inboundLeafOf(first!.floatingIp);
    const dp = new TcDataplane(replayRunner(fixture.calls, withPolicers(handle, ingress, 0)));
    const halved: RateLimit[] = [{ ...ingress[0]!, rate: 5_000 }, ingress[1]!];
    const want: DesiredRouter = { ...limited, mappings: [{ ...first!, limits: halved }, second!] };
    const plan = dp.plan(want, await dp.read(want, want));
    const lines = tcText(plan.batch).trim().split('\n');
    assert.equal(lines.length, 1, plan.batch ?? '');
    assert.match(lines[0]!, new RegExp(`^filter replace .* handle ${handle} .* police rate 5000kbit `));
    assert.deepEqual(
      plan.added.map((m) => m.floatingIp),
      [first!.floatingIp],
    );

    // Nothing in the kernel, a limit wanted: the same one leaf, with its policers.
    const bare = new TcDataplane(replayRunner(fixture.calls));
    const restore = bare.plan(want, await bare.read(want, want));
    const restoreLines = tcText(restore.batch).trim().split('\n');
    assert.equal(restoreLines.length, 1);
    assert.match(
      restoreLines[0]!,
      new RegExp(`^filter replace .* handle ${handle} .* police rate 5000kbit `),
    );
  });

  it('a policer without this router’s tag makes the filter someone else’s', async () => {
    const handle = await inboundLeafOf(first!.floatingIp);
    const foreign = (argv: string[], stdout: string) =>
      withPolicers(
        handle,
        [TEN_MBIT[1]!],
        0,
      )(argv, stdout).replaceAll(
        policeCookie(cookie, TEN_MBIT[1]!),
        policeCookie('ab'.repeat(16), TEN_MBIT[1]!),
      );
    const dp = new TcDataplane(replayRunner(fixture.calls, foreign));
    const actual = await dp.read(limited, limited);
    assert.match(actual.devices[0]!.foreign.join('; '), new RegExp(`filter ${handle} .*without this router`));
  });

  it('on a kernel with act_nat but no act_police, refuses a limited router before changing anything', async () => {
    // A kernel whose tc takes `action nat` but not `action police` (what tc says when the module is missing).
    const calls: string[] = [];
    const run: Runner = async (file, args) => {
      const argv = [file, ...args];
      calls.push(argv.join(' '));
      if (argv.includes('police'))
        throw new ExecError(
          argv,
          2,
          'Error: Failed to load TC action module.\nWe have an error talking to the kernel',
        );
      return { stdout: '', stderr: '', code: 0 };
    };
    const dp = new TcDataplane(run, { probeNamespace: 'tq-probe' });
    const plan = planTc(limited, emptyActual(limited, []), DEFAULT_TC_OPTIONS);
    await assert.rejects(dp.apply(plan), (e: Error) =>
      /cannot enforce QoS limits here: this kernel has no act_police .*CONFIG_NET_ACT_POLICE.*Failed to load TC action module/.test(
        e.message,
      ),
    );
    // Only the two probes ran, each in its scratch namespace: no batch reached ipset, iptables or tc.
    assert.deepEqual(
      calls.filter((c) => !c.startsWith('ip netns')).map((c) => c.split(' ')[0]),
      ['ip', 'tc', 'tc', 'ip', 'tc', 'tc'],
    );
    assert.ok(
      calls.every((c) => !c.includes('-batch') && !c.includes('restore')),
      calls.join('\n'),
    );
  });
});
