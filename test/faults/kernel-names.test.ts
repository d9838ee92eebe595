/**
 * Names and addresses reach kernel tools inside batch files (nft -f, iptables-restore, ip -batch), where a newline
 * or a quote is a command of its own. The API and the model validate them on the way in; these tests put hostile
 * values into the store and the agent's record file by other means and check that not one byte of them reaches
 * a kernel tool, and that the floating IPs concerned say why they are not programmed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Agent } from '../../src/agent/index.js';
import {
  createDataplane,
  desiredProblem,
  IMPLEMENTED_BACKENDS,
  renderAddressBatch,
  renderAddressBatchSliced,
  targetProblem,
} from '../../src/dataplane/index.js';
import type { DesiredRouter } from '../../src/dataplane/index.js';
import type { Runner } from '../../src/exec/run.js';
import { LoopBudget } from '../../src/metrics/slices.js';
import { createFloatingIp, createPort, type IPv4 } from '../../src/model/index.js';
import { smallCloud } from '../support/model-fixture.js';

const MARK = 'PWNED';
const hostile = [
  `qg-1\nflush ruleset #${MARK}`,
  `qg-1"; flush ruleset; "${MARK}`,
  `$(touch /tmp/${MARK})`,
  `../../${MARK}`,
  `qg-${MARK}-\u202e1`,
];

/** A runner that records everything it is asked to run and fails it, as a host without the namespace would. */
function recordingRunner(): { run: Runner; calls: string[] } {
  const calls: string[] = [];
  const run: Runner = async (file, args, options) => {
    calls.push([file, ...args, options?.netns ?? '', options?.input ?? ''].join('\u0000'));
    throw new Error('Cannot open network namespace "x": No such file or directory');
  };
  return { run, calls };
}

const good: DesiredRouter = {
  routerId: '0b8f3a44-58c1-4f5e-9d9a-1f0e4b1b2c3d',
  namespace: 'qrouter-1',
  gatewayDevice: 'qg-1',
  gatewayIp: '203.0.113.2' as IPv4,
  internalCidrs: ['10.0.0.0/24'],
  mappings: [
    { floatingIp: '203.0.113.4' as IPv4, fixedIp: '10.0.0.11' as IPv4, fixedMac: 'fa:16:3e:00:00:01' },
  ],
};

describe('names at the kernel boundary', () => {
  it('accepts what the model produces', () => {
    assert.equal(desiredProblem(good), '');
  });

  it('refuses a rate limit that is not a whole positive number of a known direction and unit', () => {
    const m = good.mappings[0]!;
    const ok = { direction: 'ingress', unit: 'packets', rate: 1_000, burst: 100 } as const;
    assert.equal(desiredProblem({ ...good, mappings: [{ ...m, limits: [ok] }] }), '');
    for (const bad of [
      { ...ok, rate: 0.5 },
      { ...ok, rate: Number.NaN },
      { ...ok, burst: -1 },
      { ...ok, rate: 2 ** 60 },
      { ...ok, unit: `packets }\nflush ruleset #${MARK}` },
      { ...ok, direction: 'sideways' },
    ]) {
      const problem = desiredProblem({
        ...good,
        mappings: [{ ...m, limits: [bad as unknown as typeof ok] }],
      });
      assert.match(
        problem,
        /rate limit .* of floating IP 203\.0\.113\.4 .* is not a valid limit/,
        JSON.stringify(bad),
      );
    }
  });

  it('refuses every hostile name or address in a desired router, naming it', async () => {
    const m = good.mappings[0]!;
    for (const bad of hostile) {
      const cases: DesiredRouter[] = [
        { ...good, routerId: bad },
        { ...good, namespace: bad },
        { ...good, gatewayDevice: bad },
        { ...good, gatewayIp: bad as IPv4 },
        { ...good, internalCidrs: [bad] },
        { ...good, mappings: [{ ...m, floatingIp: bad as IPv4 }] },
        { ...good, mappings: [{ ...m, fixedIp: bad as IPv4 }] },
        { ...good, mappings: [{ ...m, fixedMac: bad }] },
      ];
      for (const c of cases) {
        const problem = desiredProblem(c);
        assert.ok(problem.includes(bad), `${JSON.stringify(bad)} passed: ${problem}`);
      }
      assert.ok(targetProblem({ ...good, gatewayDevice: bad }).includes(bad));
      assert.throws(() => renderAddressBatch(bad, [], []), /not a valid device name/);
      assert.throws(() => renderAddressBatch('qg-1', [bad as IPv4], []), /not a valid IPv4 address/);
      // The sliced rendering a full apply prepares while the backend's batch goes in.
      await assert.rejects(
        renderAddressBatchSliced(bad, [], [], new LoopBudget()),
        /not a valid device name/,
      );
      await assert.rejects(
        renderAddressBatchSliced('qg-1', [], [bad], new LoopBudget()),
        /not a valid IPv4 address/,
      );
    }
  });

  // Every kernel backend this build implements: a backend merged later is covered without editing this test.
  for (const backend of IMPLEMENTED_BACKENDS) {
    it(`${backend}: a router with a hostile name in the store reaches no kernel tool, and its floating IP says why`, async () => {
      for (const bad of hostile) {
        const c = await smallCloud();
        const fip = await c.store.update((tx) =>
          createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
        );
        // Written around the model, as a hand-edited database or another writer could.
        await c.store.update((tx) =>
          tx.put('router', { ...tx.get('router', c.router)!, gatewayDevice: bad }),
        );
        const { run, calls } = recordingRunner();
        const agent = new Agent({
          store: c.store,
          dataplaneFor: (name) => createDataplane(name, run),
          defaultBackend: backend,
          log: pino({ level: 'silent' }),
          programmedRoutersPath: null,
          garp: false,
        });
        await agent.start();
        await agent.stop();
        assert.deepEqual(
          calls.filter((x) => x.includes(MARK)),
          [],
        );
        const after = await c.store.read((v) => v.get('floatingip', fip.id)!);
        assert.equal(after.status, 'ERROR');
        assert.match(after.statusReason, /refusing to program: gateway_device/);
        assert.ok(after.statusReason.includes(bad));
        await c.store.close();
      }
    });
  }

  it('a MAC address with a newline is refused by the model, and one written around it never reaches nft', async () => {
    const c = await smallCloud();
    await assert.rejects(
      () =>
        c.store.update((tx) =>
          createPort(tx, c.ctx, { networkId: c.privateNet, macAddress: `fa:16:3e:00:00:09\n${MARK}` }),
        ),
      /is not a valid MAC address/,
    );
    const fip = await c.store.update((tx) =>
      createFloatingIp(tx, c.ctx, { floatingNetworkId: c.publicNet, portId: c.vm1 }),
    );
    await c.store.update((tx) =>
      tx.put('port', {
        ...tx.get('port', c.vm1)!,
        macAddress: `fa:16:3e:00:00:01 } ; flush ruleset ; #${MARK}`,
      }),
    );
    const { run, calls } = recordingRunner();
    const agent = new Agent({
      store: c.store,
      dataplaneFor: (name) => createDataplane(name, run),
      defaultBackend: 'nftables',
      log: pino({ level: 'silent' }),
      programmedRoutersPath: null,
      garp: false,
    });
    await agent.start();
    await agent.stop();
    assert.deepEqual(
      calls.filter((x) => x.includes(MARK)),
      [],
    );
    assert.match((await c.store.read((v) => v.get('floatingip', fip.id)!)).statusReason, /MAC address/);
  });

  it('ignores entries of a tampered agent-routers.json instead of running kernel tools with them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sfip-record-'));
    try {
      const record = join(dir, 'agent-routers.json');
      writeFileSync(
        record,
        JSON.stringify({
          routers: hostile.map((bad, i) => ({
            routerId: `0b8f3a44-58c1-4f5e-9d9a-1f0e4b1b2c3${i}`,
            namespace: bad,
            gatewayDevice: 'qg-1',
            backend: 'nftables',
          })),
        }),
      );
      const c = await smallCloud();
      const { run, calls } = recordingRunner();
      const logged: string[] = [];
      const agent = new Agent({
        store: c.store,
        dataplaneFor: (name) => createDataplane(name, run),
        defaultBackend: 'nftables',
        log: pino({ level: 'error' }, { write: (line: string) => logged.push(line) }),
        programmedRoutersPath: record,
        garp: false,
      });
      await agent.start();
      await agent.stop();
      assert.deepEqual(
        calls.filter((x) => x.includes(MARK)),
        [],
      );
      assert.equal(logged.filter((l) => l.includes('ignoring an entry')).length, hostile.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
