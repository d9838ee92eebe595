/**
 * Pruning eBPF pins of routers that no longer exist: a router whose namespace is gone loses its pins; a router
 * that is kept, or whose programs still run in a namespace (another agent's router on the same host), keeps them.
 * Pins live under a pin root of this test's own, removed at the end.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { EbpfDataplane } from '../../src/dataplane/ebpf/index.js';
import { PIN_ROOT } from '../../src/dataplane/ebpf/layout.js';
import { DEFAULT_OBJECT_PATH } from '../../src/dataplane/ebpf/object.js';
import { prunePins } from '../../src/dataplane/ebpf/prune.js';
import type { DesiredRouter } from '../../src/dataplane/types.js';
import { run } from '../../src/exec/run.js';
import { parseIPv4 } from '../../src/model/index.js';

const tag = `tpr${process.pid % 100000}`;
const pinRoot = `${PIN_ROOT}-${tag}`;

function routerIn(namespace: string): DesiredRouter {
  return {
    routerId: randomUUID(),
    namespace,
    gatewayDevice: 'qg-p',
    gatewayIp: parseIPv4('203.0.113.2'),
    internalCidrs: ['10.0.0.0/24'],
    mappings: [{ floatingIp: parseIPv4('203.0.113.21'), fixedIp: parseIPv4('10.0.0.11') }],
  };
}

async function makeRouterNamespace(namespace: string): Promise<void> {
  await run('ip', ['netns', 'add', namespace]);
  await run('ip', ['-n', namespace, 'link', 'add', 'qg-p', 'type', 'veth', 'peer', 'name', 'ext-p']);
  await run('ip', ['-n', namespace, 'link', 'add', 'qr-p', 'type', 'veth', 'peer', 'name', 'int-p']);
  await run('ip', ['-n', namespace, 'address', 'add', '203.0.113.2/24', 'dev', 'qg-p']);
  await run('ip', ['-n', namespace, 'address', 'add', '10.0.0.1/24', 'dev', 'qr-p']);
  for (const dev of ['qg-p', 'qr-p']) await run('ip', ['-n', namespace, 'link', 'set', dev, 'up']);
}

describe('eBPF pin prune', { skip: !existsSync(DEFAULT_OBJECT_PATH) && 'npm run build first' }, () => {
  const namespaces = [`${tag}-a`, `${tag}-b`, `${tag}-c`, `${tag}-d`];
  const routers = namespaces.map(routerIn);
  const dataplane = new EbpfDataplane(run, { pinRoot });

  before(async () => {
    for (const namespace of namespaces) {
      await run('ip', ['netns', 'del', namespace], { okExitCodes: [1] });
      await makeRouterNamespace(namespace);
    }
    rmSync(pinRoot, { recursive: true, force: true });
    mkdirSync(pinRoot, { recursive: true });
    for (const r of routers) await dataplane.apply(dataplane.plan(r, await dataplane.read(r, r)));
  });
  after(async () => {
    for (const namespace of namespaces) await run('ip', ['netns', 'del', namespace], { okExitCodes: [1] });
    rmSync(pinRoot, { recursive: true, force: true });
  });

  it('removes the pins of a deleted router whose namespace is gone, and nothing else', async () => {
    const [kept, foreign, gone, removed] = routers as [
      DesiredRouter,
      DesiredRouter,
      DesiredRouter,
      DesiredRouter,
    ];
    assert.deepEqual(readdirSync(pinRoot).sort(), routers.map((r) => r.routerId).sort());
    await dataplane.remove(removed);
    await run('ip', ['netns', 'del', gone.namespace!]);
    // `foreign` is not in this store either, but its programs still run in its namespace.
    const keep = new Set([kept.routerId]);
    assert.deepEqual(await prunePins(run, pinRoot, keep), [], 'a router built a moment ago is left alone');
    const pruned = await prunePins(run, pinRoot, keep, 0);
    assert.deepEqual(pruned, [gone.routerId]);
    assert.deepEqual(readdirSync(pinRoot).sort(), [kept.routerId, foreign.routerId].sort());
    // What stays still works: the kept router reads back complete, nothing to plan.
    const plan = dataplane.plan(kept, await dataplane.read(kept, kept));
    assert.equal(plan.batch, null);
  });

  it('removes a router whose namespace goes while its programs are being detached', async () => {
    const router = routerIn(`${tag}-e`);
    await run('ip', ['netns', 'del', router.namespace!], { okExitCodes: [1] });
    await makeRouterNamespace(router.namespace!);
    try {
      await dataplane.apply(dataplane.plan(router, await dataplane.read(router, router)));
      assert.ok(existsSync(`${pinRoot}/${router.routerId}`));
      // A lab torn down under the agent: the namespace goes right after remove() has listed its devices, so the
      // filter deletes that follow meet no namespace (nsenter: cannot open /run/netns/...).
      let listed = false;
      const racing: typeof run = async (file, args, options) => {
        const result = await run(file, args, options);
        if (!listed && file === 'ip' && args.includes('address')) {
          listed = true;
          await run('ip', ['netns', 'del', router.namespace!]);
        }
        return result;
      };
      await new EbpfDataplane(racing, { pinRoot }).remove(router);
      assert.ok(listed, 'remove() lists the namespace before detaching');
      assert.equal(existsSync(`${pinRoot}/${router.routerId}`), false, 'its pins outlived it');
    } finally {
      await run('ip', ['netns', 'del', router.namespace!], { okExitCodes: [1] });
    }
  });
});
