/**
 * `sfip agent` and `sfip serve --store etcd://` as processes: bad input and faults each get one clear message,
 * an unreachable etcd is retried with backoff and explained, and a node name a live agent holds is refused.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawnProgram as spawn } from '../../src/exec/spawn.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { EtcdServer, freePort } from '../../src/lab/etcd-server.js';
import { EtcdStore } from '../../src/store/index.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');
const dir = mkdtempSync(join(tmpdir(), 'sfip-agent-cli-'));
let server: EtcdServer;

before(async () => {
  server = await EtcdServer.start({ name: 'te-cli' });
});
after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function start(...args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function finish(child: ChildProcess): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
}

/** Collects JSON log lines until `until` matches one, then stops the process. */
function logsUntil(
  child: ChildProcess,
  until: (entries: Record<string, unknown>[]) => boolean,
  timeoutMs = 20_000,
) {
  const entries: Record<string, unknown>[] = [];
  return new Promise<Record<string, unknown>[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gave up waiting; saw ${JSON.stringify(entries.map((e) => e.msg))}`));
    }, timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        entries.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        return;
      }
      if (until(entries)) {
        clearTimeout(timer);
        child.kill('SIGTERM');
        resolve(entries);
      }
    });
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(entries);
    });
  });
}

const common = (node: string, store: string) => [
  'agent',
  '--node',
  node,
  '--store',
  store,
  '--backend',
  'fake',
  '--state-dir',
  join(dir, node),
];

describe('sfip agent', { timeout: 120_000 }, () => {
  it('refuses a bad node name, a bad lease TTL and a store without leases, naming each', async () => {
    const bad = await finish(start(...common('-n1', server.storeSpec)));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /'-n1' is not a valid node name for --node/);
    const ttl = await finish(start(...common('n1', server.storeSpec), '--lease-ttl', '1500ms'));
    assert.equal(ttl.code, 1);
    assert.match(ttl.stderr, /'1500ms' is not a lease TTL/);
    const spec = await finish(start(...common('n1', 'etcd://127.0.0.1:99999')));
    assert.equal(spec.code, 1);
    assert.match(spec.stderr, /Invalid etcd store 'etcd:\/\/127\.0\.0\.1:99999': port 99999 is out of range/);
    const sqlite = await finish(start(...common('n1', `sqlite:${join(dir, 'x.db')}`)));
    assert.equal(sqlite.code, 1);
    assert.match(
      sqlite.stderr,
      /'sfip agent' needs a store that holds agents' leases: --store etcd:\/\/HOST:PORT/,
    );
  });

  it('refuses a bad BGP router id, next hop and namespace, naming each', async () => {
    for (const [flag, value, message] of [
      [
        '--bgp-router-id',
        '203.0.113.256',
        /'203\.0\.113\.256' is not a valid IPv4 address for --bgp-router-id/,
      ],
      ['--bgp-next-hop', '203.0.113', /'203\.0\.113' is not a valid IPv4 address for --bgp-next-hop/],
      ['--bgp-netns', '../x', /'\.\.\/x' is not a valid network namespace name for --bgp-netns/],
    ] as const) {
      const bad = await finish(
        start(...common('n1', server.storeSpec), '--bgp-router-id', '203.0.113.2', flag, value),
      );
      assert.equal(bad.code, 1, `${flag} ${value}`);
      assert.match(bad.stderr, message);
    }
  });

  it('refuses --bgp-standby without routed mode or with the gateway as next hop, saying why', async () => {
    const alone = await finish(start(...common('n1', server.storeSpec), '--bgp-standby'));
    assert.equal(alone.code, 1);
    assert.match(alone.stderr, /--bgp-standby needs routed mode \(--bgp-router-id\)/);
    const gateway = await finish(
      start(...common('n1', server.storeSpec), '--bgp-router-id', '203.0.113.2', '--bgp-standby'),
    );
    assert.equal(gateway.code, 1);
    assert.match(gateway.stderr, /--bgp-standby needs --bgp-next-hop set to this node's own address/);
  });

  it('waits for an unreachable etcd, saying so with growing delays, and registers once it is up', async () => {
    const late = await EtcdServer.start({ name: 'te-cli-late' });
    await late.halt();
    try {
      const child = start(...common('late1', late.storeSpec));
      let launched = false;
      const entries = await logsUntil(child, (seen) => {
        const warnings = seen.filter((e) =>
          /cannot reach etcd at etcd:\/\/127\.0\.0\.1:\d+\/sfip\/; retrying in \d+ ms/.test(String(e.msg)),
        );
        if (warnings.length >= 3 && !launched) {
          launched = true;
          void late.launch();
        }
        return seen.some((e) => e.msg === 'registered this node');
      });
      const delays = entries.filter((e) => e.retryInMs !== undefined).map((e) => Number(e.retryInMs));
      assert.ok(delays.length >= 3);
      assert.ok(delays[2]! > delays[0]!, `backoff grows: ${delays.join(', ')}`);
      assert.ok(entries.some((e) => e.msg === 'registered this node' && e.node === 'late1'));
    } finally {
      await late.stop();
    }
  });

  it('refuses a node name that a live agent holds, and exits 1 saying which', async () => {
    const store = new EtcdStore({ endpoints: [`http://${server.endpoint}`], prefix: '/sfip/' });
    const holder = await store.registerAgent({ host: 'busy1', ttlSeconds: 5, now: new Date().toISOString() });
    try {
      const result = await finish(start(...common('busy1', server.storeSpec)));
      assert.equal(result.code, 1);
      assert.match(result.stderr, /AgentHostInUse: Node busy1 is already held by a live agent/);
      assert.match(result.stderr, /choose another --node/);
    } finally {
      await holder.revoke();
      await store.close();
    }
  });

  it("runs with 'sfip serve --store etcd://', whose own agent registers as a node", async () => {
    const port = await freePort();
    const child = start(
      'serve',
      '--store',
      server.storeSpec,
      '--node',
      'serve1',
      '--backend',
      'fake',
      '--port',
      String(port),
      '--state-dir',
      join(dir, 'serve'),
    );
    const entries = await logsUntil(child, (seen) =>
      seen.some((e) => e.msg === 'agent reconciled every router'),
    );
    assert.ok(entries.some((e) => e.msg === 'registered this node' && e.node === 'serve1'));
  });
});
