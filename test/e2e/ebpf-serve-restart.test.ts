/**
 * The eBPF backend as a user runs it: `sfip serve --backend ebpf`, the lab and a floating IP made with the CLI,
 * then the daemon SIGKILLed and restarted while traffic flows both ways. Pinned maps and programs outlive the
 * process; the restarted agent must find them, change nothing (same program ids on every hook) and lose nothing.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from '../../src/exec/run.js';
import { PIN_ROOT } from '../../src/dataplane/ebpf/layout.js';
import { destroyLab, demoLab, Probe } from '../../src/lab/index.js';
import { conntrackLines, mentioning } from '../support/conntrack.js';
import { builtSfip } from '../support/built-sfip.js';
import { sfipWith, startServe, waitFor, type ServeProcess } from '../support/serve-process.js';

const prefix = `tbe${process.pid % 10000}`;
const stateDir = mkdtempSync(join(tmpdir(), 'sfip-ebpf-e2e-'));
const args = ['--backend', 'ebpf', '--resync-interval', '1s'];
/** bin/sfip, as a user runs it. */
const product = builtSfip();
const cli = (url: string, ...rest: string[]) => sfipWith(product, '--url', url, ...rest);
const ns = {
  ext: `${prefix}-r1-ext`,
  router: `${prefix}-r1`,
  vm1: `${prefix}-r1-vm1`,
  vm3: `${prefix}-r1-vm3`,
};

/** Program ids on every sfip tc hook in the router namespace, as `device direction id` lines. */
async function attachedPrograms(): Promise<string[]> {
  const { stdout } = await run('nsenter', [`--net=/run/netns/${ns.router}`, 'bpftool', '-j', 'net', 'show']);
  const tc = (JSON.parse(stdout) as { tc: { devname: string; kind: string; id: number }[] }[])[0]!.tc;
  return tc.map((t) => `${t.devname} ${t.kind} ${t.id}`).sort();
}

describe('sfip serve --backend ebpf, killed and restarted under traffic', { timeout: 180_000 }, () => {
  let serve: ServeProcess;
  let address = '';
  let routerId = '';

  before(async () => {
    await destroyLab(demoLab(prefix));
    serve = await startServe(stateDir, args, product);
  });
  after(async () => {
    await cli(serve.url, 'lab', 'down', '--prefix', prefix).catch(() => undefined);
    serve.child.kill('SIGTERM');
    await destroyLab(demoLab(prefix));
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('serves HTTP through a floating IP created with the CLI, untracked', async () => {
    const up = await cli(serve.url, 'lab', 'up', '--prefix', prefix);
    assert.equal(up.code, 0, up.stderr);
    const created = await cli(
      serve.url,
      '--json',
      'fip',
      'create',
      `${prefix}-r1-public`,
      '--port',
      `${prefix}-r1-vm1`,
    );
    assert.equal(created.code, 0, created.stderr);
    const fip = (JSON.parse(created.stdout) as { floatingip: Record<string, unknown> }).floatingip;
    address = String(fip.floating_ip_address);
    routerId = String(fip.router_id);
    await waitFor('ACTIVE', async () => {
      const shown = (
        JSON.parse((await cli(serve.url, '--json', 'fip', 'show', address)).stdout) as {
          floatingip: Record<string, unknown>;
        }
      ).floatingip;
      return shown.status === 'ACTIVE' ? true : undefined;
    });
    const page = await waitFor(
      'HTTP through the floating IP',
      async () =>
        (await run('curl', ['-s', '-m', '2', `http://${address}/`], { netns: ns.ext })).stdout || undefined,
    );
    assert.match(page, /hello from vm1 \(10\.0\.0\.11\); you came from 203\.0\.113\.1/);
    await run('ping', ['-c', '2', '-W', '1', '203.0.113.1'], { netns: ns.vm3 });
    const lines = await conntrackLines(ns.router);
    assert.ok(mentioning(lines, ['10.0.0.13']).length > 0, 'shared SNAT is tracked, so conntrack is hooked');
    assert.deepEqual(mentioning(lines, [address, '10.0.0.11']), []);
    assert.ok(existsSync(join(PIN_ROOT, routerId)), 'the router’s objects are pinned');
  });

  it('keeps forwarding both ways while the daemon is killed and restarted, and reattaches nothing', async () => {
    const vm1 = new Probe(ns.vm1, 'vm1');
    const ext = new Probe(ns.ext, 'ext');
    try {
      await vm1.call({ op: 'listen', proto: 'udp', port: 7001 });
      await ext.call({ op: 'listen', proto: 'udp', port: 7002 });
      const programs = await attachedPrograms();
      assert.equal(programs.length, 4, `gateway and internal hooks: ${programs.join('; ')}`);
      const count = 400;
      const inbound = ext.call<{ sent: number }>({
        op: 'udpStream',
        host: address,
        port: 7001,
        tag: 'in',
        count,
        intervalMs: 10,
      });
      const outbound = vm1.call<{ sent: number }>({
        op: 'udpStream',
        host: '203.0.113.1',
        port: 7002,
        tag: 'out',
        count,
        intervalMs: 10,
      });
      await new Promise((r) => setTimeout(r, 500));
      serve.child.kill('SIGKILL');
      await new Promise((r) => serve.child.once('exit', r));
      await new Promise((r) => setTimeout(r, 500));
      serve = await startServe(stateDir, [...args, '--port', new URL(serve.url).port], product);
      await waitFor('readiness', async () => ((await fetch(`${serve.url}/readyz`)).ok ? true : undefined));
      assert.equal((await inbound).sent, count);
      assert.equal((await outbound).sent, count);
      await new Promise((r) => setTimeout(r, 1500)); // and one resync of the new daemon
      const gotIn = await vm1.call<{ unique: number; peers: string[] }>({
        op: 'received',
        port: 7001,
        tag: 'in',
      });
      const gotOut = await ext.call<{ unique: number; peers: string[] }>({
        op: 'received',
        port: 7002,
        tag: 'out',
      });
      assert.equal(gotIn.unique, count, 'inbound packets lost while the daemon was down or restarting');
      assert.deepEqual(gotIn.peers, ['203.0.113.1']);
      assert.equal(gotOut.unique, count, 'outbound packets lost while the daemon was down or restarting');
      assert.deepEqual(gotOut.peers, [address]);
      assert.deepEqual(await attachedPrograms(), programs, 'the restarted daemon replaced a program');
    } finally {
      vm1.close();
      ext.close();
    }
  });

  it('removes every pinned object when the lab goes', async () => {
    const down = await cli(serve.url, 'lab', 'down', '--prefix', prefix);
    assert.equal(down.code, 0, down.stderr);
    await waitFor('unpinned', async () => (existsSync(join(PIN_ROOT, routerId)) ? undefined : true));
  });
});
