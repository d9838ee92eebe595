/**
 * The whole product as a user runs it: a real `sfip serve` process, the lab built by the CLI, a floating IP
 * created by the CLI, HTTP through it, a SIGKILLed and restarted daemon with traffic flowing throughout.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from '../../src/exec/run.js';
import { destroyLab, demoLab, Probe } from '../../src/lab/index.js';
import { conntrackLines, mentioning } from '../support/conntrack.js';
import { builtSfip } from '../support/built-sfip.js';
import {
  sfipWith,
  startServe as startServeProcess,
  waitFor,
  type ServeProcess,
} from '../support/serve-process.js';

const prefix = `sfe${process.pid % 10000}`;
const stateDir = mkdtempSync(join(tmpdir(), 'sfip-e2e-'));

/** bin/sfip, as a user runs it. */
const product = builtSfip();
const startServe = (port = 0) =>
  startServeProcess(stateDir, ['--port', String(port), '--resync-interval', '1s'], product);
const sfip = (url: string, ...args: string[]) => sfipWith(product, '--url', url, ...args);

describe('sfip serve with the lab, end to end', { timeout: 180_000 }, () => {
  let serve: ServeProcess;
  let address = '';
  const ns = {
    ext: `${prefix}-r1-ext`,
    router: `${prefix}-r1`,
    vm1: `${prefix}-r1-vm1`,
    vm3: `${prefix}-r1-vm3`,
  };

  before(async () => {
    await destroyLab(demoLab(prefix));
    serve = await startServe();
  });
  after(async () => {
    await sfip(serve.url, 'lab', 'down', '--prefix', prefix).catch(() => undefined);
    serve.child.kill('SIGTERM');
    await destroyLab(demoLab(prefix));
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('builds the lab and serves HTTP through a floating IP created with the CLI, with no conntrack entry for it', async () => {
    const up = await sfip(serve.url, 'lab', 'up', '--prefix', prefix);
    assert.equal(up.code, 0, up.stderr);
    const created = await sfip(
      serve.url,
      '--json',
      'fip',
      'create',
      `${prefix}-r1-public`,
      '--port',
      `${prefix}-r1-vm1`,
    );
    assert.equal(created.code, 0, created.stderr);
    address = String(
      (JSON.parse(created.stdout) as { floatingip: Record<string, unknown> }).floatingip.floating_ip_address,
    );
    await waitFor('ACTIVE', async () => {
      const shown = (
        JSON.parse((await sfip(serve.url, '--json', 'fip', 'show', address)).stdout) as {
          floatingip: Record<string, unknown>;
        }
      ).floatingip;
      return shown.status === 'ACTIVE' ? true : undefined;
    });
    const page = await waitFor(
      'HTTP through the floating IP',
      async () => (await run('curl', ['-s', '-m', '2', `http://${address}/`], { netns: ns.ext })).stdout,
    );
    assert.match(page, /hello from vm1 \(10\.0\.0\.11\); you came from 203\.0\.113\.1/);
    const ping = await run('ping', ['-c', '2', '-W', '1', '203.0.113.1'], { netns: ns.vm3 });
    assert.match(ping.stdout, /2 received/);
    const lines = await conntrackLines(ns.router);
    assert.ok(mentioning(lines, ['10.0.0.13']).length > 0, 'shared SNAT is tracked, so conntrack is hooked');
    assert.deepEqual(mentioning(lines, [address, '10.0.0.11']), []);
  });

  it('leaves the store and the kernel untouched when given bad input', async () => {
    const snapshot = async () => [
      (await run('nft', ['list', 'ruleset'], { netns: ns.router })).stdout,
      // Without IPv6's duplicate address detection state, which the kernel clears by itself a second or two after
      // a link comes up: the built CLI is fast enough to take the first snapshot before that.
      (await run('ip', ['-j', 'address'], { netns: ns.router })).stdout.replaceAll('"tentative":true,', ''),
      (await sfip(serve.url, '--json', 'fip', 'list')).stdout,
      (await sfip(serve.url, '--json', 'router', 'list')).stdout,
    ];
    const before = await snapshot();
    const bad = [
      ['fip', 'create', `${prefix}-r1-public`, '--floating-ip-address', '203.0.113.07'],
      ['fip', 'create', `${prefix}-r1-public`, '--floating-ip-address', address],
      ['fip', 'create', `${prefix}-r1-public`, '--port', `${prefix}-r1-vm1`],
      ['router', 'set', `${prefix}-r1`, '--gateway-device', 'qg-r1;ip link del qg-r1'],
      ['router', 'set', `${prefix}-r1`, '--namespace', `${'x'.repeat(70)}`],
    ];
    for (const args of bad) {
      const r = await sfip(serve.url, ...args);
      assert.equal(r.code, 1, `${args.join(' ')} should fail`);
      assert.match(r.stderr, /^Error: /);
    }
    await new Promise((r) => setTimeout(r, 1500)); // one resync interval: the agent must not have changed anything
    assert.deepEqual(await snapshot(), before);
  });

  it('keeps forwarding while the daemon is killed and restarted', async () => {
    const sink = new Probe(ns.vm1, 'vm1');
    const source = new Probe(ns.ext, 'ext');
    try {
      await sink.call({ op: 'listen', proto: 'udp', port: 7001 });
      const count = 400;
      const stream = source.call<{ sent: number }>({
        op: 'udpStream',
        host: address,
        port: 7001,
        tag: 'restart',
        count,
        intervalMs: 10,
      });
      await new Promise((r) => setTimeout(r, 500));
      serve.child.kill('SIGKILL');
      await new Promise((r) => serve.child.once('exit', r));
      await new Promise((r) => setTimeout(r, 500));
      serve = await startServe(Number(new URL(serve.url).port));
      await waitFor('readiness', async () => ((await fetch(`${serve.url}/readyz`)).ok ? true : undefined));
      assert.equal((await stream).sent, count);
      // Wait for the receiver rather than a fixed time: on a loaded machine it may lag behind the sender.
      const got = await waitFor(
        'every packet of the stream at the sink',
        async () => {
          const now = await sink.call<{ unique: number; peers: string[] }>({
            op: 'received',
            port: 7001,
            tag: 'restart',
          });
          return now.unique >= count ? now : undefined;
        },
        5000,
      ).catch(() =>
        sink.call<{ unique: number; peers: string[] }>({ op: 'received', port: 7001, tag: 'restart' }),
      );
      assert.equal(got.unique, count, 'packets were lost while the daemon was down or restarting');
      assert.deepEqual(got.peers, ['203.0.113.1']);
    } finally {
      sink.close();
      source.close();
    }
  });

  it('tears the lab down completely', async () => {
    const down = await sfip(serve.url, 'lab', 'down', '--prefix', prefix);
    assert.equal(down.code, 0, down.stderr);
    const namespaces = (await run('ip', ['netns', 'list'])).stdout;
    assert.doesNotMatch(namespaces, new RegExp(`^${prefix}-`, 'm'));
    const fips = (
      JSON.parse((await sfip(serve.url, '--json', 'fip', 'list')).stdout) as { floatingips: unknown[] }
    ).floatingips;
    assert.deepEqual(fips, []);
  });
});
