/**
 * The long-lived set dumper (`sfip-nft-set-dump --serve`, SetDumpChannel): it enters each namespace itself, so a
 * scrape of many routers reads their counters and conntrack use without starting a process per namespace. Checked
 * against a real table in a namespace this test creates, and against the one-shot helper and `cat`.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { readConntrackUsage } from '../../src/dataplane/index.js';
import { readNftCounters } from '../../src/dataplane/nftables/counters.js';
import { renderFull, tableName } from '../../src/dataplane/nftables/render.js';
import {
  SET_DUMP_HELPER,
  SetDumpChannel,
  SetDumpError,
} from '../../src/dataplane/common/set-dump-channel.js';
import type { DesiredRouter } from '../../src/dataplane/types.js';
import { run } from '../../src/exec/run.js';
import { parseIPv4 } from '../../src/model/index.js';

const ip = parseIPv4;
const ns = `tmsd${process.pid % 10000}`;
const empty = `${ns}e`;
const desired: DesiredRouter = {
  routerId: '5d0c1e2a-7b1f-4c3e-8a55-0f1e2d3c4b5a',
  namespace: ns,
  gatewayDevice: 'qg-x',
  gatewayIp: ip('203.0.113.2'),
  internalCidrs: ['10.0.0.0/24'],
  mappings: [
    { floatingIp: ip('203.0.113.10'), fixedIp: ip('10.0.0.11') },
    { floatingIp: ip('203.0.113.11'), fixedIp: ip('10.0.0.12') },
  ],
};
const table = tableName(desired.routerId);

describe('the long-lived set dumper', () => {
  const channel = new SetDumpChannel(SET_DUMP_HELPER);
  before(async () => {
    assert.ok(existsSync(SET_DUMP_HELPER), `${SET_DUMP_HELPER} is missing: run npm run build`);
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['netns', 'add', empty]);
    await run('ip', ['link', 'add', 'qg-x', 'type', 'veth', 'peer', 'name', 'qg-y'], { netns: ns });
    await run('nft', ['-f', '-'], { netns: ns, input: renderFull(desired) });
    await run('nft', ['-f', '-'], {
      netns: ns,
      input: [
        `delete element ip ${table} fipcount_in { 203.0.113.10 }`,
        `add element ip ${table} fipcount_in { 203.0.113.10 counter packets 7 bytes 700 }`,
      ].join('\n'),
    });
    // One conntrack entry in the namespace (a ping to itself through a stateful rule), none in the other.
    await run('ip', ['link', 'set', 'lo', 'up'], { netns: ns });
    await run('nft', ['-f', '-'], {
      netns: ns,
      input: 'table ip probe { chain out { type filter hook output priority 0; ct state new accept; }; }\n',
    });
    await run('ping', ['-c', '1', '-W', '1', '127.0.0.1'], { netns: ns });
  });
  after(async () => {
    channel.close();
    await run('ip', ['netns', 'del', ns]);
    await run('ip', ['netns', 'del', empty]);
  });

  it('reads the same counters as the one-shot helper, through one process', async () => {
    const oneShot = await readNftCounters(desired, run, SET_DUMP_HELPER);
    assert.equal(oneShot.find((c) => c.floatingIp === '203.0.113.10')?.packetsIn, 7);
    for (let i = 0; i < 3; i++) assert.deepEqual(await readNftCounters(desired, run, null, channel), oneShot);
    assert.equal(channel.starts, 1);
  });

  it('answers reads asked at once, each with its own sets', async () => {
    const [inbound, outbound] = await Promise.all([
      channel.dump(ns, table, ['fipcount_in']),
      channel.dump(ns, table, ['fipcount_out']),
    ]);
    assert.deepEqual(inbound.trim().split('\n').sort(), [
      'fipcount_in 203.0.113.10 - 7 700',
      'fipcount_in 203.0.113.11 - 0 0',
    ]);
    assert.ok(outbound.split('\n').every((l) => l === '' || l.startsWith('fipcount_out ')));
  });

  it('reads each namespace’s conntrack use, as cat inside it does', async () => {
    const [inside, fromCat] = [await channel.conntrack(ns), await readConntrackUsage(ns)];
    assert.ok(inside.count >= 1, `the namespace's own entry: ${inside.count}`);
    assert.deepEqual(inside, fromCat);
    assert.equal((await channel.conntrack(empty)).count, 0);
  });

  it('tells a missing table and a missing namespace apart from a failure', async () => {
    const other = { ...desired, routerId: '11111111-2222-4333-8444-555555555555' };
    assert.deepEqual(await readNftCounters(other, run, null, channel), []);
    await assert.rejects(channel.dump(`${ns}gone`, table, ['fipcount_in']), (e: unknown) => {
      assert.ok(e instanceof SetDumpError);
      assert.equal(e.code, 2);
      assert.match(e.message, /cannot open network namespace/);
      return true;
    });
  });

  it('refuses a request that is not one line of plain words, before the helper sees it', async () => {
    await assert.rejects(channel.dump(ns, `${table} fipcount_in\n- x`, ['y']), SetDumpError);
    await assert.rejects(channel.dump('../etc', table, ['fipcount_in']), /not a valid network namespace/);
  });

  it('starts the helper again after it died', async () => {
    const starts = channel.starts;
    process.kill(channel.pid!, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await readNftCounters(desired, run, null, channel)).length, 2);
    assert.equal(channel.starts, starts + 1);
  });
});
