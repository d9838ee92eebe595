import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { NftablesDataplane } from '../../src/dataplane/index.js';
import {
  CounterDumps,
  dumpDigest,
  parseNftSetCounters,
  parseSetDump,
  readNftCounters,
} from '../../src/dataplane/nftables/counters.js';
import { parseNftTable, countersMatch } from '../../src/dataplane/nftables/parse.js';
import {
  SET_DUMP_HELPER,
  SetDumpError,
  type SetDumpChannel,
} from '../../src/dataplane/common/set-dump-channel.js';
import { renderFull, tableName } from '../../src/dataplane/nftables/render.js';
import type { DesiredRouter } from '../../src/dataplane/types.js';
import { LoopBudget } from '../../src/metrics/slices.js';
import { run } from '../../src/exec/run.js';
import { parseIPv4 } from '../../src/model/index.js';
import { deepRead } from './nftables-reads.js';

const ip = parseIPv4;
const ns = `tmct${process.pid % 10000}`;
const desired: DesiredRouter = {
  routerId: '0b3f3a52-2a43-4f5e-9d55-7a1c3e1b6f00',
  namespace: ns,
  gatewayDevice: 'qg-x',
  gatewayIp: ip('203.0.113.2'),
  internalCidrs: ['10.0.0.0/24'],
  mappings: [
    { floatingIp: ip('203.0.113.10'), fixedIp: ip('10.0.0.11') },
    { floatingIp: ip('203.0.113.11'), fixedIp: ip('10.0.0.12') },
    { floatingIp: ip('203.0.113.12'), fixedIp: ip('10.0.0.13') },
  ],
};
const table = tableName(desired.routerId);

describe('nftables per-floating-IP counters, read from a real table', () => {
  before(async () => {
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['link', 'add', 'qg-x', 'type', 'veth', 'peer', 'name', 'qg-y'], { netns: ns });
    await run('nft', ['-f', '-'], { netns: ns, input: renderFull(desired) });
    // Give two elements known counter values, the way nft lets an element be created with one.
    await run('nft', ['-f', '-'], {
      netns: ns,
      input: [
        `delete element ip ${table} fipcount_in { 203.0.113.10, 203.0.113.11 }`,
        `add element ip ${table} fipcount_in { 203.0.113.10 counter packets 7 bytes 700, 203.0.113.11 counter packets 4294967296 bytes 6000000000000 }`,
        `delete element ip ${table} fipcount_out { 203.0.113.10 }`,
        `add element ip ${table} fipcount_out { 203.0.113.10 counter packets 3 bytes 252 }`,
      ].join('\n'),
    });
  });
  after(async () => {
    await run('ip', ['netns', 'del', ns]);
  });

  const expected = [
    { floatingIp: '203.0.113.10', packetsIn: 7, bytesIn: 700, packetsOut: 3, bytesOut: 252 },
    { floatingIp: '203.0.113.11', packetsIn: 2 ** 32, bytesIn: 6e12, packetsOut: 0, bytesOut: 0 },
    { floatingIp: '203.0.113.12', packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0 },
  ];

  it('reads them through the compiled helper (npm run build makes it)', async () => {
    assert.ok(existsSync(SET_DUMP_HELPER), `${SET_DUMP_HELPER} is missing: run npm run build`);
    assert.deepEqual(await readNftCounters(desired, run, SET_DUMP_HELPER), expected);
  });

  it('reads the same through nft -j when the helper is absent', async () => {
    assert.deepEqual(await readNftCounters(desired, run, null), expected);
  });

  it('is what the nftables dataplane reports', async () => {
    assert.deepEqual(await new NftablesDataplane().counters(desired), expected);
  });

  it('reports no counters for a router whose table does not exist', async () => {
    const other = { ...desired, routerId: '11111111-2222-4333-8444-555555555555' };
    assert.deepEqual(await readNftCounters(other, run, SET_DUMP_HELPER), []);
    assert.deepEqual(await readNftCounters(other, run, null), []);
  });

  it('sees a counter set that lost an element as drift, so the next pass rebuilds it', async () => {
    const json = async () => (await run('nft', ['-j', 'list', 'table', 'ip', table], { netns: ns })).stdout;
    // A deep read lists the counter sets' elements.
    assert.equal(countersMatch(parseNftTable(await json())), true);
    assert.equal((await deepRead(new NftablesDataplane(), desired, desired)).structureMatches, true);
    await run('nft', ['delete', 'element', 'ip', table, 'fipcount_out', '{ 203.0.113.12 }'], { netns: ns });
    assert.equal(countersMatch(parseNftTable(await json())), false);
    const dataplane = new NftablesDataplane();
    assert.equal(
      (await dataplane.read(desired, desired)).structureMatches,
      true,
      'a quick read cannot see it',
    );
    const actual = await dataplane.read(desired, desired);
    assert.equal(actual.structureMatches, false);
    assert.equal(dataplane.plan(desired, actual).rebuild, true);
  });
});

describe('counter output parsing', () => {
  it('parses the helper lines and skips elements without a counter', () => {
    const sets = parseSetDump(
      'fipcount_in 203.0.113.10 - 5 420\nfip2fixed 203.0.113.10 10.0.0.11 - -\nfipcount_out 203.0.113.10 - 1 84\n',
    );
    assert.deepEqual(
      [...sets].map(([name, m]) => [name, [...m]]),
      [
        ['fipcount_in', [['203.0.113.10', { packets: 5, bytes: 420 }]]],
        ['fipcount_out', [['203.0.113.10', { packets: 1, bytes: 84 }]]],
      ],
    );
  });

  it('parses nft -j elements with counters', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        {
          set: {
            name: 'fipcount_in',
            type: 'ipv4_addr',
            elem: [{ elem: { val: '203.0.113.10', counter: { packets: 6, bytes: 504 } } }, '203.0.113.99'],
            stmt: [{ counter: null }],
          },
        },
      ],
    });
    assert.deepEqual([...parseNftSetCounters(json)], [['203.0.113.10', { packets: 6, bytes: 504 }]]);
  });
});

describe('counter dumps through the long-lived dumper', () => {
  /** A dumper that answers with whatever `answer` holds (text, or an error to throw). */
  const dumper = (answer: { value: string | Error }) =>
    ({
      dump: async () => {
        if (answer.value instanceof Error) throw answer.value;
        return answer.value;
      },
    }) as unknown as SetDumpChannel;
  const target = { routerId: desired.routerId, namespace: 'nsx', gatewayDevice: 'qg-x' };
  const noRun = () => Promise.reject(new Error('no process may start'));
  const one = 'fipcount_in 203.0.113.10 - 5 420\nfipcount_out 203.0.113.10 - 1 84\n';

  it('answers a dump that did not change with the same array, and a changed one with new counters', async () => {
    const answer: { value: string | Error } = { value: one };
    const dumps = new CounterDumps();
    const first = await readNftCounters(target, noRun, null, dumper(answer), dumps);
    assert.deepEqual(first, [
      { floatingIp: '203.0.113.10', packetsIn: 5, bytesIn: 420, packetsOut: 1, bytesOut: 84 },
    ]);
    assert.equal(await readNftCounters(target, noRun, null, dumper(answer), dumps), first);
    answer.value = one.replace(' 5 420', ' 6 504');
    const changed = await readNftCounters(target, noRun, null, dumper(answer), dumps);
    assert.notEqual(changed, first);
    assert.equal(changed[0]!.packetsIn, 6);
    assert.equal(first[0]!.packetsIn, 5, 'an array handed out is never changed');
  });

  it('forgets a router’s dump after a failed read: the next one is parsed again', async () => {
    const answer: { value: string | Error } = { value: one };
    const dumps = new CounterDumps();
    const first = await readNftCounters(target, noRun, null, dumper(answer), dumps);
    answer.value = new SetDumpError('no such table', 2);
    assert.deepEqual(await readNftCounters(target, noRun, null, dumper(answer), dumps), []);
    answer.value = one;
    const again = await readNftCounters(target, noRun, null, dumper(answer), dumps);
    assert.notEqual(again, first);
    assert.deepEqual(again, first);
  });
});

describe('dump digest', () => {
  it('is the SHA-256 of the whole text, however many slices it is hashed in', async () => {
    const digest = (text: string) => `${text.length}:${createHash('sha256').update(text).digest('base64')}`;
    const lines = 'fipcount_in 203.0.113.10 - 5 420\n'.repeat(100_000);
    assert.equal(await dumpDigest(lines, new LoopBudget(0)), digest(lines));
    assert.notEqual(await dumpDigest(lines.replace('- 5 420', '- 6 420')), digest(lines));
    // A character outside the BMP where one slice (2^20 characters) ends and the next begins.
    const straddling = 'a'.repeat(2 ** 20 - 1) + '\u{1F600}b';
    assert.equal(await dumpDigest(straddling), digest(straddling));
  });
});
