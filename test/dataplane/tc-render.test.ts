import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { splitSteps } from '../../src/dataplane/tc/batch.js';
import { DEFAULT_TC_OPTIONS, type TcOptions } from '../../src/dataplane/tc/options.js';
import { planTc } from '../../src/dataplane/tc/plan.js';
import { TcDataplane } from '../../src/dataplane/tc/tc-backend.js';
import type { DesiredRouter } from '../../src/dataplane/types.js';
import { parseIPv4, SfipError } from '../../src/model/index.js';
import { assertGolden } from '../support/golden.js';
import { emptyActual, replayRunner, tcReadFixture } from '../support/tc-fixture.js';

const ip = parseIPv4;
const desired: DesiredRouter = {
  routerId: '6c6dc72e-c74a-4386-989b-f048b1d408e6',
  namespace: 'qrouter-1',
  gatewayDevice: 'qg-r1',
  gatewayIp: ip('203.0.113.2'),
  internalCidrs: ['10.0.0.0/24'],
  mappings: [
    { floatingIp: ip('203.0.113.10'), fixedIp: ip('10.0.0.11') },
    { floatingIp: ip('203.0.113.11'), fixedIp: ip('10.0.0.12') },
  ],
};
const options = (o: Partial<TcOptions> = {}): TcOptions => ({ ...DEFAULT_TC_OPTIONS, ...o });

describe('tc backend rendering', () => {
  it('programs a new router in order: sets, iptables, then tc (golden, clsact + hashed)', () => {
    const plan = planTc(desired, emptyActual(desired, ['qr-r1']), options());
    assertGolden('tc-full-clsact-hashed.batch', plan.batch ?? '');
    assert.deepEqual(
      splitSteps(plan.batch!).map((s) => s.tool),
      ['ipset', 'iptables', 'tc'],
    );
    assert.equal(plan.rebuild, true);
    assert.deepEqual(plan.added, desired.mappings);
  });

  it("renders the seed's layout: an ingress qdisc and an htb root 10:, filters one after another (golden)", () => {
    const plan = planTc(
      desired,
      emptyActual(desired, ['qr-r1']),
      options({ egress: 'htb', lookup: 'linear' }),
    );
    assertGolden('tc-full-htb-linear.batch', plan.batch ?? '');
    const tc = splitSteps(plan.batch!).find((s) => s.tool === 'tc')!.text;
    assert.match(tc, /^qdisc add dev qg-r1 root handle 10: htb$/m);
    assert.match(tc, /^qdisc add dev qg-r1 handle ffff: ingress$/m);
    assert.match(
      tc,
      /parent 10: protocol ip prio 24348 .* action nat egress 10\.0\.0\.11\/32 203\.0\.113\.10 /,
    );
  });

  it('fixes both defects of the seed: NOTRACK matches the fixed address, and addresses are never retyped', () => {
    const text = planTc(desired, emptyActual(desired, []), options()).batch!;
    // Inbound: after tc ingress rewrote the destination, packets from the gateway device carry the fixed address.
    assert.match(text, /-i qg-r1 -m set --match-set \S+-fx dst -j CT --notrack/);
    // No rule ever matches a floating address as a NOTRACK condition.
    assert.doesNotMatch(text, /-d 203\.0\.113\.1[01]\S* .*--notrack/);
    // Every translation uses the same address on both sides of the mapping.
    for (const m of desired.mappings) {
      assert.match(text, new RegExp(`nat ingress ${m.floatingIp}/32 ${m.fixedIp} `));
      assert.match(text, new RegExp(`nat egress ${m.fixedIp}/32 ${m.floatingIp} `));
    }
  });

  it('refuses device names and router ids that could smuggle commands into a batch, naming the value', () => {
    const dp = new TcDataplane(replayRunner([]), { probeNamespace: 'tq-never' });
    for (const gatewayDevice of [
      'qg-r1\nqdisc del dev eth0 root',
      'qg r1',
      'a-very-long-device-name',
      '-qg',
    ]) {
      assert.throws(
        () => planTc({ ...desired, gatewayDevice }, emptyActual(desired, []), options()),
        (e: unknown) => e instanceof SfipError && e.message.includes(`'${gatewayDevice}'`),
      );
      assert.throws(() => dp.plan({ ...desired, gatewayDevice }, emptyActual(desired, [])), SfipError);
    }
    for (const routerId of ['x', '6c6dc72e-c74a-4386-989b-f048b1d408e6\n-A', '../6c6dc72e']) {
      assert.throws(
        () => dp.plan({ ...desired, routerId }, emptyActual(desired, [])),
        (e: unknown) => e instanceof SfipError && e.message.includes(`'${routerId}'`),
      );
    }
  });
});

describe('tc backend read-back (output recorded in the act_nat guest)', () => {
  const fixture = tcReadFixture();

  it('reads a programmed router back as exactly what it wants: nothing to apply', async () => {
    const dp = new TcDataplane(replayRunner(fixture.calls));
    const actual = await dp.read(fixture.desired, fixture.desired);
    assert.equal(actual.present, true);
    assert.equal(actual.structureMatches, true);
    assert.deepEqual(
      [...actual.inbound].sort(),
      fixture.desired.mappings.map((m) => [m.floatingIp, m.fixedIp]),
    );
    const plan = dp.plan(fixture.desired, actual);
    assert.equal(plan.batch, null);
  });

  it('patches leaf filters and set members when a floating IP is added, moved or removed (golden)', async () => {
    const dp = new TcDataplane(replayRunner(fixture.calls));
    const actual = await dp.read(fixture.desired, fixture.desired);
    const [first, second] = fixture.desired.mappings;
    const changed: DesiredRouter = {
      ...fixture.desired,
      mappings: [
        { floatingIp: first!.floatingIp, fixedIp: ip('10.0.0.13') }, // moved to another VM
        { floatingIp: ip('203.0.113.20'), fixedIp: second!.fixedIp }, // second VM: new floating IP
      ],
    };
    const plan = dp.plan(changed, actual);
    assertGolden('tc-delta.batch', plan.batch ?? '');
    assert.equal(plan.rebuild, false);
    assert.doesNotMatch(plan.batch!, /qdisc/, 'a mapping change never touches qdiscs');
    const tools = splitSteps(plan.batch!).map((s) => s.tool);
    assert.deepEqual(tools, ['ipset', 'iptables', 'tc', 'iptables', 'ipset'], 'make before break');
  });

  it('sees a deleted filter as drift and puts just that filter back', async () => {
    // The filter lists come from one `tc -batch`, one JSON list per line: the gateway's ingress list is the first.
    const drop = (argv: string[], stdout: string) => {
      if (argv.join(' ') !== 'tc -j -s -batch -') return stdout;
      const [ingress, ...rest] = stdout.split('\n');
      const kept = (JSON.parse(ingress!) as { options?: { fh?: string } }[]).filter(
        (f) => f.options?.fh !== '10:b:1',
      );
      return [JSON.stringify(kept), ...rest].join('\n');
    };
    const dp = new TcDataplane(replayRunner(fixture.calls, drop));
    const actual = await dp.read(fixture.desired, fixture.desired);
    assert.equal(actual.inbound.has('203.0.113.11'), false);
    const plan = dp.plan(fixture.desired, actual);
    const tc = splitSteps(plan.batch!).filter((s) => s.tool === 'tc');
    assert.equal(tc.length, 1);
    assert.deepEqual(tc[0]!.text.trim().split('\n').length, 1);
    assert.match(
      tc[0]!.text,
      /filter add dev qg-r1 .* handle 10:b:1 .* nat ingress 203\.0\.113\.11\/32 10\.0\.0\.11 /,
    );
  });

  it('refuses a qdisc it did not make, naming it, unless told to take over', async () => {
    const foreignRoot = (argv: string[], stdout: string) =>
      argv.join(' ') === 'tc -j qdisc show'
        ? JSON.stringify([
            ...(JSON.parse(stdout) as { root?: boolean; dev?: string }[]).filter(
              (q) => !(q.root && q.dev === 'qg-r1'),
            ),
            { kind: 'fq_codel', handle: '1:', root: true, dev: 'qg-r1', refcnt: 2, options: {} },
          ])
        : stdout;
    const dp = new TcDataplane(replayRunner(fixture.calls, foreignRoot));
    const actual = await dp.read(fixture.desired, fixture.desired);
    assert.throws(
      () => dp.plan(fixture.desired, actual),
      (e: unknown) =>
        e instanceof SfipError &&
        /qg-r1: root qdisc fq_codel 1:/.test(e.message) &&
        /takeOverForeignQdisc/.test(e.message) &&
        /changed nothing/.test(e.message),
    );
    const takeOver = new TcDataplane(replayRunner(fixture.calls, foreignRoot), {
      takeOverForeignQdisc: true,
    });
    const plan = takeOver.plan(fixture.desired, await takeOver.read(fixture.desired, fixture.desired));
    assert.match(
      plan.batch!,
      /^qdisc del dev qg-r1 clsact\nqdisc del dev qg-r1 root\nqdisc add dev qg-r1 clsact$/m,
    );
  });
});
