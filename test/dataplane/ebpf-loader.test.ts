/**
 * The eBPF backend's long-lived loader (native/bpf-load.c through loader.ts): the tc batches it takes, and a real
 * helper process building and attaching a generation in a namespace of this test's own, under a pin root of its
 * own, both removed at the end. Packets through attached programs are the conformance and wire suites' part.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ProgramLoadError } from '../../src/dataplane/ebpf/bpftool.js';
import { PIN_ROOT } from '../../src/dataplane/ebpf/layout.js';
import { BPF_LOAD_HELPER, BpfLoader, loaderTcLines } from '../../src/dataplane/ebpf/loader.js';
import { DEFAULT_OBJECT_PATH } from '../../src/dataplane/ebpf/object.js';
import { generationPaths } from '../../src/dataplane/ebpf/paths.js';
import { pinnedProgramIds } from '../../src/dataplane/ebpf/program-ids.js';
import { readHooks } from '../../src/dataplane/ebpf/read.js';
import { parseLoaderHooks, renderAttachBatch } from '../../src/dataplane/ebpf/tc.js';
import { isNamespaceGone, run } from '../../src/exec/run.js';

describe('eBPF loader: tc batches', () => {
  it('turns each kind of line renderAttachBatch writes into a loader command', () => {
    const batch = renderAttachBatch(
      [{ device: 'qg-1', direction: 'ingress', program: 'gw_ingress' }],
      (p) => `/sys/fs/bpf/sfip/r/g0/progs/${p}`,
      ['qg-1'],
      [{ device: 'qr-2', direction: 'egress' }],
    );
    assert.deepEqual(loaderTcLines('/run/netns/r1', batch), [
      'tc /run/netns/r1 qdisc qg-1',
      'tc /run/netns/r1 replace qg-1 ingress 24347 1 /sys/fs/bpf/sfip/r/g0/progs/gw_ingress',
      'tc /run/netns/r1 del qr-2 egress 24347 1',
    ]);
  });

  it("parses the helper's hooks answer, and refuses one that does not fit the devices asked for", () => {
    assert.deepEqual(parseLoaderHooks(['qg-1', 'qr-2'], '1,0,i:7,e:8 0,3\n'), [
      {
        device: 'qg-1',
        hasClsact: true,
        foreignFilters: 0,
        attachments: [
          { device: 'qg-1', direction: 'ingress', programId: 7 },
          { device: 'qg-1', direction: 'egress', programId: 8 },
        ],
      },
      { device: 'qr-2', hasClsact: false, foreignFilters: 3, attachments: [] },
    ]);
    assert.throws(() => parseLoaderHooks(['qg-1', 'qr-2'], '1,0\n'), /for 2 devices/);
    assert.throws(() => parseLoaderHooks(['qg-1'], '1,0,x:7\n'), /Unexpected sfip-bpf-load hook/);
    assert.throws(() => parseLoaderHooks(['qg-1'], '2,0\n'), /Unexpected sfip-bpf-load hooks of qg-1/);
  });

  it('refuses a line it does not know, and a path the helper would split', () => {
    assert.throws(() => loaderTcLines('-', 'qdisc replace dev qg-1 clsact\n'), /cannot run the tc command/);
    assert.throws(
      () => loaderTcLines('-', 'filter replace dev qg-1 ingress prio 1 handle 1 bpf da object-pinned /a=b\n'),
      /cannot be passed/,
    );
  });
});

const tag = `tbl${process.pid % 100000}`;
const pinRoot = `${PIN_ROOT}-${tag}`;
const namespace = `${tag}r`;

describe(
  'eBPF loader: the helper',
  { skip: !existsSync(BPF_LOAD_HELPER) && 'sfip-bpf-load is not built' },
  () => {
    const loader = new BpfLoader();
    before(async () => {
      mkdirSync(pinRoot, { recursive: true });
      await run('ip', ['netns', 'add', namespace]);
      await run('ip', ['-n', namespace, 'link', 'add', 'qg-t', 'type', 'veth', 'peer', 'name', 'ext-t']);
    });
    after(async () => {
      loader.close();
      await run('ip', ['netns', 'del', namespace]).catch(() => undefined);
      rmSync(pinRoot, { recursive: true, force: true });
    });

    it('builds a generation, attaches and swaps its programs, and detaches them', async () => {
      const dir = `${pinRoot}/g1`;
      mkdirSync(dir);
      await loader.createMaps(dir, 16);
      await loader.loadPrograms(dir, DEFAULT_OBJECT_PATH);
      const paths = generationPaths(dir);
      const filterIds = async (direction: string) => {
        const { stdout } = await run('tc', ['-j', 'filter', 'show', 'dev', 'qg-t', direction], {
          netns: namespace,
        });
        const filters = JSON.parse(stdout) as { pref?: number; options?: { prog?: { name?: string } } }[];
        return filters.flatMap((f) => (f.options ? [`${f.pref} ${f.options.prog?.name}`] : []));
      };
      const attach = (program: 'gw_ingress' | 'int_ingress', needClsact: string[]) =>
        renderAttachBatch([{ device: 'qg-t', direction: 'ingress', program }], paths.program, needClsact, []);
      await loader.tcBatch(namespace, attach('gw_ingress', ['qg-t']));
      assert.deepEqual(await filterIds('ingress'), ['24347 gw_ingress']);
      // A clsact that is there already fails the batch, as `tc qdisc add` does, and nothing after it runs.
      await assert.rejects(
        loader.tcBatch(namespace, attach('int_ingress', ['qg-t'])),
        /cannot add clsact on qg-t/,
      );
      assert.deepEqual(await filterIds('ingress'), ['24347 gw_ingress']);
      // The filter's program is swapped in place.
      await loader.tcBatch(namespace, attach('int_ingress', []));
      assert.deepEqual(await filterIds('ingress'), ['24347 int_ingress']);
      await loader.tcBatch(
        namespace,
        renderAttachBatch([], paths.program, [], [{ device: 'qg-t', direction: 'ingress' }]),
      );
      assert.deepEqual(await filterIds('ingress'), []);
    });

    it('stops a request at its first failure and runs the next request', async () => {
      const batch = renderAttachBatch(
        [
          { device: 'nodev', direction: 'ingress', program: 'gw_ingress' },
          { device: 'qg-t', direction: 'egress', program: 'gw_egress' },
        ],
        generationPaths(`${pinRoot}/g1`).program,
        [],
        [],
      );
      await assert.rejects(loader.tcBatch(namespace, batch), /cannot find device nodev/);
      const { stdout } = await run('tc', ['-j', 'filter', 'show', 'dev', 'qg-t', 'egress'], {
        netns: namespace,
      });
      assert.deepEqual(JSON.parse(stdout), [], 'the line after the failure did not run');
      await loader.tcBatch(
        namespace,
        renderAttachBatch(
          [{ device: 'qg-t', direction: 'egress', program: 'gw_egress' }],
          generationPaths(`${pinRoot}/g1`).program,
          [],
          [],
        ),
      );
    });

    it("reads the hooks as tc's read does: clsact, this backend's filters by program id, others' counted", async () => {
      // After the test above: gw_egress on qg-t's egress. A foreign filter on its ingress, none on ext-t.
      const foreign = 'filter add dev qg-t ingress prio 7 u32 match u32 0 0 classid 1:1';
      await run('tc', foreign.split(' '), { netns: namespace });
      const devices = ['qg-t', 'ext-t', 'lo'];
      const viaTc = await readHooks(run, namespace, devices);
      const viaLoader = await loader.hooks(namespace, devices);
      assert.deepEqual(viaLoader, viaTc);
      const [qg] = viaLoader;
      assert.equal(qg?.hasClsact, true);
      assert.equal(qg?.foreignFilters, 2, 'u32 lists its hash table and its key');
      const egress = pinnedProgramIds(`${pinRoot}/g1`, ['gw_egress']).get('gw_egress');
      assert.deepEqual(qg?.attachments, [{ device: 'qg-t', direction: 'egress', programId: egress }]);
      assert.deepEqual(
        viaLoader.slice(1).map((h) => h.hasClsact),
        [false, false],
      );
      await assert.rejects(loader.hooks(namespace, ['qg-t', 'nodev']), /cannot find device nodev/);
      await assert.rejects(loader.hooks(`${tag}gone`, ['lo']), isNamespaceGone);
    });

    it('reports a program load that fails as a ProgramLoadError, with what libbpf said', async () => {
      const dir = `${pinRoot}/g2`;
      mkdirSync(dir);
      // No maps in this generation: the load cannot reuse them.
      const error = await loader.loadPrograms(dir, DEFAULT_OBJECT_PATH).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof ProgramLoadError, `expected a ProgramLoadError, got ${String(error)}`);
      assert.match(error.verifierLog, /cannot open pinned map .*g2\/fip2fixed/);
      assert.ok(!existsSync(generationPaths(dir).programsDir), 'nothing pinned');
    });
  },
);
