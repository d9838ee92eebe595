/**
 * The gratuitous ARP queue: many new floating addresses are announced by a few sender processes (native/garp.c),
 * and a neighbour that still points at an old owner learns the router's MAC for every one of them.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { applyAddressChanges, GARP_HELPER, GarpQueue } from '../../src/dataplane/index.js';
import { run, type Runner } from '../../src/exec/run.js';
import { parseIPv4, type IPv4 } from '../../src/model/index.js';

const router = `sfgq${process.pid % 10000}-r`;
const upstream = `sfgq${process.pid % 10000}-u`;
const target = { routerId: 'r', namespace: router, gatewayDevice: 'qg-t' };
const addresses: IPv4[] = Array.from({ length: 200 }, (_, i) => parseIPv4(`203.0.113.${10 + i}`));
const OLD_MAC = '02:00:00:00:00:01';

async function neighbourMacs(): Promise<Map<string, string>> {
  const { stdout } = await run('ip', ['-n', upstream, '-j', 'neigh', 'show', 'dev', 'eth0']);
  const entries = JSON.parse(stdout || '[]') as { dst: string; lladdr?: string }[];
  return new Map(entries.map((e) => [e.dst, e.lladdr ?? '']));
}

describe('gratuitous ARP queue', { skip: !existsSync(GARP_HELPER) && 'npm run build first' }, () => {
  before(async () => {
    for (const ns of [router, upstream]) {
      await run('ip', ['netns', 'del', ns], { okExitCodes: [1] });
      await run('ip', ['netns', 'add', ns]);
    }
    await run('ip', [
      '-n',
      router,
      'link',
      'add',
      'qg-t',
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      upstream,
    ]);
    await run('ip', ['-n', router, 'addr', 'add', '203.0.113.2/24', 'dev', 'qg-t']);
    await run('ip', ['-n', upstream, 'addr', 'add', '203.0.113.1/24', 'dev', 'eth0']);
    await run('ip', ['-n', router, 'link', 'set', 'qg-t', 'up']);
    await run('ip', ['-n', upstream, 'link', 'set', 'eth0', 'up']);
  });
  after(async () => {
    for (const ns of [router, upstream]) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  });

  it('announces 200 addresses with two sender processes, and neighbours learn the new owner', async () => {
    assert.equal(addresses.length, 200);
    // The upstream believes every floating address lives at an old owner's MAC, as after a move.
    await run('ip', ['-batch', '-'], {
      netns: upstream,
      input: addresses.map((ip) => `neigh replace ${ip} lladdr ${OLD_MAC} dev eth0 nud stale\n`).join(''),
    });
    await applyAddressChanges(target, addresses, []);
    const calls: string[] = [];
    const counting: Runner = (file, args, options) => {
      calls.push(file);
      return run(file, args, options);
    };
    const errors: unknown[] = [];
    const queue = new GarpQueue((e) => errors.push(e), counting, GARP_HELPER, {
      rounds: 1,
      intervalMs: 0,
      packetsPerSecond: 20_000,
      batchSize: 128,
      concurrency: 2,
    });
    queue.enqueue(target, addresses.slice(0, 100));
    queue.enqueue(target, addresses.slice(100));
    await queue.whenIdle();
    assert.deepEqual(errors, []);
    assert.deepEqual(calls, [GARP_HELPER, GARP_HELPER], 'two batches of at most 128, never one per address');
    const { stdout } = await run('ip', ['-n', router, '-j', 'link', 'show', 'qg-t']);
    const mac = (JSON.parse(stdout) as { address: string }[])[0]!.address;
    const macs = await neighbourMacs();
    const wrong = addresses.filter((ip) => macs.get(ip) !== mac);
    assert.deepEqual(wrong, [], `neighbour entries still pointing elsewhere (router MAC ${mac})`);
  });

  it('reports a bad address through its error callback and sends nothing', async () => {
    const errors: unknown[] = [];
    const calls: string[] = [];
    const queue = new GarpQueue(
      (e) => errors.push(e),
      (file, args, options) => {
        calls.push(file);
        return run(file, args, options);
      },
    );
    queue.enqueue(target, ['203.0.113.010']);
    await queue.whenIdle();
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /203\.0\.113\.010/);
    assert.deepEqual(calls, []);
  });
});
