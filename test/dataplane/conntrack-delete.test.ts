/**
 * Conntrack deletes through the long-lived native helper (`sfip-nft-set-dump --serve`, `NS ctdel ...`): against real
 * entries inserted with `conntrack -I` in a namespace this test creates, checked with `conntrack -L` that exactly the
 * matching entries went, for each field, and that bad input is refused with the word named and nothing deleted.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, beforeEach, describe, it } from 'node:test';
import { deleteStaleConntrack } from '../../src/dataplane/common/conntrack.js';
import {
  SET_DUMP_HELPER,
  SetDumpChannel,
  SetDumpError,
} from '../../src/dataplane/common/set-dump-channel.js';
import { run, type Runner } from '../../src/exec/run.js';
import { conntrackLines } from '../support/conntrack.js';

const ns = `tmct${process.pid % 10000}`;

/** Three UDP flows, as a router's NAT would track them: fixed IP → remote, answered from the remote to the fixed IP. */
const FLOWS = [
  { src: '10.0.0.11', dst: '203.0.113.10', reply: '198.51.100.1' },
  { src: '10.0.0.12', dst: '203.0.113.11', reply: '198.51.100.2' },
  { src: '10.0.0.13', dst: '203.0.113.12', reply: '198.51.100.3' },
];

async function insertFlows(): Promise<void> {
  await run('conntrack', ['-F'], { netns: ns, okExitCodes: [1] });
  for (const f of FLOWS) {
    const args = ['-I', '-p', 'udp', '-s', f.src, '-d', f.dst, '--sport', '1000', '--dport', '53'];
    args.push('-r', f.reply, '-q', f.src, '--reply-port-src', '53', '--reply-port-dst', '1000', '-t', '300');
    await run('conntrack', args, { netns: ns });
  }
}

/** The original source of each entry left, sorted. */
async function sourcesLeft(): Promise<string[]> {
  return (await conntrackLines(ns)).map((l) => /src=([0-9.]+)/.exec(l)![1]!).sort();
}

describe('conntrack deletes through the native helper', () => {
  const channel = new SetDumpChannel(SET_DUMP_HELPER);
  before(async () => {
    assert.ok(existsSync(SET_DUMP_HELPER), `${SET_DUMP_HELPER} is missing: run npm run build`);
    await run('ip', ['netns', 'add', ns]);
  });
  beforeEach(insertFlows);
  after(async () => {
    channel.close();
    await run('ip', ['netns', 'del', ns]);
  });

  it('deletes by original source (conntrack -s), and only those', async () => {
    assert.equal(await channel.deleteConntrack(ns, [{ field: 'src', address: '10.0.0.11' }]), 1);
    assert.deepEqual(await sourcesLeft(), ['10.0.0.12', '10.0.0.13']);
  });

  it('deletes by reply source (conntrack -r), and only those', async () => {
    assert.equal(await channel.deleteConntrack(ns, [{ field: 'rsrc', address: '198.51.100.2' }]), 1);
    assert.deepEqual(await sourcesLeft(), ['10.0.0.11', '10.0.0.13']);
  });

  it('deletes by original destination (conntrack -d), and only those', async () => {
    assert.equal(await channel.deleteConntrack(ns, [{ field: 'dst', address: '203.0.113.12' }]), 1);
    assert.deepEqual(await sourcesLeft(), ['10.0.0.11', '10.0.0.12']);
  });

  it('matches any pair of a request, counting an entry that matches two once', async () => {
    const deleted = await channel.deleteConntrack(ns, [
      { field: 'src', address: '10.0.0.11' },
      { field: 'dst', address: '203.0.113.10' },
      { field: 'rsrc', address: '198.51.100.3' },
      // A field whose address is in the table, but only in another field: no match.
      { field: 'dst', address: '10.0.0.12' },
    ]);
    assert.equal(deleted, 2);
    assert.deepEqual(await sourcesLeft(), ['10.0.0.12']);
  });

  it('answers 0 when nothing matches, and leaves the table alone', async () => {
    assert.equal(await channel.deleteConntrack(ns, [{ field: 'src', address: '10.9.9.9' }]), 0);
    assert.equal((await sourcesLeft()).length, 3);
  });

  it('splits a long request into lines the helper reads whole', async () => {
    const others = Array.from({ length: 40 }, (_, i) => ({ field: 'dst' as const, address: `192.0.2.${i}` }));
    const deleted = await channel.deleteConntrack(ns, [...others, { field: 'src', address: '10.0.0.13' }]);
    assert.equal(deleted, 1);
    assert.deepEqual(await sourcesLeft(), ['10.0.0.11', '10.0.0.12']);
  });

  it('refuses a bad field or address, naming it, before the helper sees it', async () => {
    for (const [field, address, word] of [
      ['sport', '10.0.0.11', 'sport'],
      ['src', '10.0.0.011', '10.0.0.011'],
      ['src', '10.0.0', '10.0.0'],
      ['src', '10.0.0.11 src 10.0.0.12', '10.0.0.11 src 10.0.0.12'],
    ] as const) {
      await assert.rejects(
        channel.deleteConntrack(ns, [{ field: field as 'src', address }]),
        (e: unknown) => e instanceof SetDumpError && e.code === 1 && e.message.includes(word),
      );
    }
    assert.equal((await sourcesLeft()).length, 3);
  });

  it('refuses bad words in the helper itself, naming them', async () => {
    // Straight to the helper's request line, past the TypeScript checks: its own validation is the last word.
    const raw = (line: string) =>
      (channel as unknown as { request(l: string): Promise<string> }).request(line);
    for (const [line, word] of [
      [`${ns} ctdel src 10.0.0.256\n`, '10.0.0.256'],
      [`${ns} ctdel orig 10.0.0.11\n`, 'orig'],
      [`${ns} ctdel src\n`, 'FIELD ADDR'],
      [`${ns} ctdel ${'dst 192.0.2.1 '.repeat(40)}src 10.0.0.11\n`, 'more than 64 words'],
    ] as const) {
      await assert.rejects(raw(line), (e: unknown) => e instanceof SetDumpError && e.message.includes(word));
    }
    assert.equal((await sourcesLeft()).length, 3);
  });

  it('cleans up after a mapping change through the helper, starting no conntrack process', async () => {
    const refuse: Runner = async (file) => {
      throw new Error(`started ${file}`);
    };
    const deleted = await deleteStaleConntrack(
      ns,
      { fixedIps: ['10.0.0.11'], floatingIps: ['203.0.113.11'] },
      refuse,
      null,
      channel,
    );
    assert.equal(deleted, 2);
    assert.deepEqual(await sourcesLeft(), ['10.0.0.13']);
  });

  it('deletes the same entries as the conntrack tool does without the helper', async () => {
    const stale = { fixedIps: ['10.0.0.12'], floatingIps: ['203.0.113.12'] };
    assert.equal(await deleteStaleConntrack(ns, stale, run, null, null), 2);
    const byTool = await sourcesLeft();
    await insertFlows();
    assert.equal(await deleteStaleConntrack(ns, stale, run, null, channel), 2);
    assert.deepEqual(await sourcesLeft(), byTool);
  });
});
