/**
 * The long-lived per-namespace nft and ip processes that carry deltas: changes share one process, a refused
 * change fails with the tool's message and commits nothing, a dead process is started again, and a namespace
 * that is deleted and created again is never written through a process left in the old one.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import {
  NetnsChannels,
  NFT_APPLY_HELPER,
  nftChannelSpec,
} from '../../src/dataplane/common/netns-channels.js';
import { ChannelError } from '../../src/dataplane/common/line-channel.js';
import { isNamespaceGone, run } from '../../src/exec/run.js';
import { processAlive as alive } from '../support/process-alive.js';

/** The nft channel's two processes: sfip's applier (built by `npm run build`) and `nft -i` without it. */
const variants = [
  { name: 'sfip-nft-apply', spec: nftChannelSpec(), suffix: 'a' },
  { name: 'nft -i', spec: nftChannelSpec(null), suffix: 'i' },
] as const;

for (const variant of variants) {
  const ns = `tchan${variant.suffix}${process.pid % 100000}`;

  async function makeNamespace(): Promise<void> {
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['-n', ns, 'link', 'add', 'qg-t', 'type', 'veth', 'peer', 'name', 'qg-p']);
    await run('ip', ['-n', ns, 'link', 'set', 'qg-t', 'up']);
    await run('ip', ['-n', ns, 'address', 'add', '192.0.2.1/24', 'dev', 'qg-t']);
    await run('nft', ['-f', '-'], {
      netns: ns,
      input: 'table ip tchan {\n  map m {\n    type ipv4_addr : ipv4_addr\n  }\n}\n',
    });
  }

  async function mapElements(): Promise<string[]> {
    const { stdout } = await run('nft', ['-j', 'list', 'map', 'ip', 'tchan', 'm'], { netns: ns });
    const objects = (JSON.parse(stdout) as { nftables: { map?: { elem?: [string, string][] } }[] }).nftables;
    const elems = objects.find((o) => o.map)?.map?.elem ?? [];
    return elems.map(([k, v]) => `${k}:${v}`).sort();
  }

  async function localRoutes(): Promise<string[]> {
    const { stdout } = await run('ip', ['-j', 'route', 'show', 'table', 'local', 'proto', '249'], {
      netns: ns,
    });
    return (JSON.parse(stdout || '[]') as { dst: string }[]).map((r) => r.dst).sort();
  }

  const route = (verb: string, ip: string) => `route ${verb} local ${ip}/32 dev qg-t table local proto 249\n`;

  describe(`per-namespace channels (nft through ${variant.name})`, () => {
    const channels = new NetnsChannels(variant.spec);
    before(async () => {
      await run('ip', ['netns', 'del', ns], { okExitCodes: [1] });
      await makeNamespace();
    });
    after(async () => {
      channels.close();
      await run('ip', ['netns', 'del', ns], { okExitCodes: [1] });
    });

    it('warms the ip channel ahead of need: one process, settled in the namespace, started once', async () => {
      const fresh = new NetnsChannels(variant.spec);
      try {
        assert.equal(fresh.procNet(ns), null, 'nothing runs yet');
        fresh.warm(ns);
        fresh.warm(ns);
        // The marker's answer settles the process; the next request queues behind it.
        await fresh.ip(ns, route('replace', '198.51.100.250'));
        assert.equal(fresh.starts(ns), 1, 'warming twice started one process, which the change used');
        const procNet = fresh.procNet(ns);
        assert.ok(procNet, 'its /proc/<pid>/net is known');
        const pid = /^\/proc\/(\d+)\/net$/.exec(procNet!)?.[1];
        const { stdout } = await run('ip', ['netns', 'identify', pid!]);
        assert.equal(stdout.trim(), ns, "and it is the namespace's");
        await fresh.ip(ns, route('del', '198.51.100.250'));
      } finally {
        fresh.close();
      }
    });

    it('carries many nft transactions and route changes through one process each', async () => {
      for (let i = 1; i <= 20; i++) {
        await channels.nft(ns, `add element ip tchan m { 198.51.100.${i} : 10.0.0.${i} }\n`);
      }
      await channels.nft(
        ns,
        'delete element ip tchan m { 198.51.100.1 }\nadd element ip tchan m { 198.51.100.1 : 10.0.1.1 }\n',
      );
      await channels.ip(ns, route('replace', '198.51.100.1') + route('replace', '198.51.100.2'));
      const elements = await mapElements();
      assert.equal(elements.length, 20);
      assert.ok(elements.includes('198.51.100.1:10.0.1.1'));
      assert.deepEqual(await localRoutes(), ['198.51.100.1', '198.51.100.2']);
      assert.equal(channels.starts(ns), 2, 'one nft and one ip process for every change');
    });

    it('refuses a change the kernel refuses, with its message, commits none of it, and keeps working', async () => {
      await assert.rejects(
        channels.nft(
          ns,
          'add element ip tchan m { 198.51.100.99 : 10.0.0.99 }\ndelete element ip tchan m { 198.51.100.200 }\n',
        ),
        /nft refused the change: Error: Could not process rule: No such file or directory/,
      );
      assert.ok(!(await mapElements()).some((e) => e.startsWith('198.51.100.99:')), 'all or nothing');
      await assert.rejects(channels.ip(ns, route('del', '203.0.113.77')), /ip refused the change/);
      await channels.nft(ns, 'add element ip tchan m { 198.51.100.98 : 10.0.0.98 }\n');
      await channels.ip(ns, route('replace', '198.51.100.98'));
      assert.ok((await mapElements()).includes('198.51.100.98:10.0.0.98'));
      assert.ok((await localRoutes()).includes('198.51.100.98'));
      assert.equal(channels.starts(ns), 2);
    });

    it('answers reads through an ip process of its own, between the changes', async () => {
      const starts = channels.starts(ns);
      const show = 'route show table local dev qg-t proto 249';
      const read = async () =>
        (JSON.parse(await channels.ipRead(ns, show)) as { dst: string }[]).map((r) => r.dst).sort();
      // Enough routes that the answer (about 70 KiB) takes more than one pipe buffer to arrive.
      const many = Array.from({ length: 1000 }, (_, i) => `198.18.${i >> 8}.${i & 255}`);
      await channels.ip(ns, many.map((ip) => route('replace', ip)).join(''));
      const [before, devices] = await Promise.all([read(), channels.ipRead(ns, 'address show')]);
      assert.deepEqual(before, await localRoutes(), 'the same routes as a process of its own reads');
      assert.ok(many.every((ip) => before.includes(ip)));
      const qg = (JSON.parse(devices) as { ifname: string; linkinfo?: { info_kind?: string } }[]).find(
        (d) => d.ifname === 'qg-t',
      );
      assert.equal(qg?.linkinfo?.info_kind, 'veth', 'with the details of ip -d');
      await channels.ip(ns, many.map((ip) => route('del', ip)).join(''));
      assert.ok(!(await read()).includes(many[0]!), 'a read after a change sees it');
      await assert.rejects(channels.ipRead(ns, 'route show table local dev nosuch0'), (error: unknown) => {
        assert.ok(error instanceof ChannelError);
        assert.match(error.stderr, /Cannot find device "nosuch0"/);
        return true;
      });
      await assert.rejects(channels.ipRead(ns, 'address show\nroute flush table main'), /one command/);
      // A failed read ends its process (a late piece of its answer must not become the next one's): the reads
      // started one process, and one more after the failure; the changes still share theirs.
      assert.deepEqual(await read(), await localRoutes());
      assert.equal(channels.starts(ns), starts + 2);
    });

    it('starts a process again after it died', async () => {
      const { stdout } = await run('ip', ['netns', 'pids', ns]);
      const pids = stdout.split(/\s+/).filter(Boolean);
      assert.equal(pids.length, 3, 'the nft, ip and ip read processes live in the namespace');
      for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
      await channels.nft(ns, 'add element ip tchan m { 198.51.100.97 : 10.0.0.97 }\n');
      await channels.ip(ns, route('replace', '198.51.100.97'));
      assert.ok((await mapElements()).includes('198.51.100.97:10.0.0.97'));
      assert.ok((await localRoutes()).includes('198.51.100.97'));
      assert.equal(channels.starts(ns), 6, 'the changes started their two processes again');
    });

    it('ends the processes of a deleted namespace on a sweep, so they do not keep it alive', async () => {
      await channels.nft(ns, 'add element ip tchan m { 198.51.100.90 : 10.0.0.90 }\n');
      await channels.ip(ns, route('replace', '198.51.100.90'));
      await channels.ipRead(ns, 'address show');
      const { stdout } = await run('ip', ['netns', 'pids', ns]);
      const pids = stdout.split(/\s+/).filter(Boolean).map(Number);
      assert.equal(pids.length, 3, 'the nft, ip and ip read processes');
      await run('ip', ['netns', 'del', ns]);
      channels.sweep();
      const deadline = Date.now() + 5000;
      while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(pids.filter(alive), [], 'channel processes outlived their namespace');
      await makeNamespace();
    });

    it('never writes into a namespace that was deleted and created again under the same name', async () => {
      await run('ip', ['netns', 'del', ns]);
      await assert.rejects(
        channels.nft(ns, 'add element ip tchan m { 198.51.100.96 : 10.0.0.96 }\n'),
        (error: unknown) => isNamespaceGone(error),
      );
      await makeNamespace();
      await channels.nft(ns, 'add element ip tchan m { 198.51.100.95 : 10.0.0.95 }\n');
      assert.deepEqual(await mapElements(), ['198.51.100.95:10.0.0.95']);
    });

    it('runs the nft process it was given, and keeps nft -i away from the history in $HOME', async () => {
      await channels.nft(ns, 'add element ip tchan m { 198.51.100.80 : 10.0.0.80 }\n');
      const { stdout } = await run('ip', ['netns', 'pids', ns]);
      const programs = stdout
        .split(/\s+/)
        .filter(Boolean)
        .map((pid) => ({
          exe: readlinkSync(`/proc/${pid}/exe`),
          environ: readFileSync(`/proc/${pid}/environ`, 'utf8'),
        }));
      const nft = programs.find((p) => !p.exe.endsWith('/ip'));
      assert.ok(nft, 'an nft process lives in the namespace');
      // The end of the path only: in a chroot (the fresh-machine check) /proc shows the host's path to the file.
      if (variant.suffix === 'a')
        assert.ok(nft.exe.endsWith(NFT_APPLY_HELPER), `${nft.exe} is not ${NFT_APPLY_HELPER}`);
      else {
        assert.match(nft.exe, /\/nft$/);
        // nft -i loads $HOME/.nft.history at start and saves it at exit: every channel would grow the same file.
        assert.ok(nft.environ.split('\0').includes('HOME=/nonexistent'), 'nft -i runs without a home');
      }
    });
  });
}

describe('the nft channel', () => {
  it('uses sfip-nft-apply once it is built', () => {
    assert.ok(existsSync(NFT_APPLY_HELPER), 'npm run build compiles native/nft-apply.c');
    assert.equal(nftChannelSpec().file, NFT_APPLY_HELPER);
    assert.equal(nftChannelSpec(null).file, 'nft');
  });

  it(
    'drops a last line cut short, which nft -i would run',
    { skip: !existsSync(NFT_APPLY_HELPER) },
    async () => {
      const ns = `tchanc${process.pid % 100000}`;
      await run('ip', ['netns', 'add', ns]);
      try {
        await run('nft', ['-f', '-'], {
          netns: ns,
          input: 'table ip tchan { map m { type ipv4_addr : ipv4_addr; }; }\n',
        });
        const add = (i: number) => `add element ip tchan m { 198.51.100.${i} : 10.0.0.${i} }`;
        // An agent killed while writing a request leaves its last line without a newline.
        await run(NFT_APPLY_HELPER, [], { netns: ns, input: `${add(1)}\n${add(2)}` });
        const { stdout } = await run('nft', ['list', 'map', 'ip', 'tchan', 'm'], { netns: ns });
        assert.match(stdout, /198\.51\.100\.1 : 10\.0\.0\.1/);
        assert.doesNotMatch(stdout, /198\.51\.100\.2 /);
      } finally {
        await run('ip', ['netns', 'del', ns], { okExitCodes: [1] });
      }
    },
  );
});
