import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { missingPrivileges } from '../../src/daemon/privileges.js';
import { spawnProgram } from '../../src/exec/spawn.js';
import { CLI } from '../support/serve-process.js';

function run(program: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawnProgram(program, args, { env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('serve start-up checks', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'sfip-serve-checks-'));
  after(() => rmSync(stateDir, { recursive: true, force: true }));

  it('reads the effective capabilities', () => {
    // Root's usual set, then one without NET_ADMIN (bit 12) and SYS_ADMIN (bit 21).
    assert.deepEqual(missingPrivileges('Name:\tnode\nCapEff:\t000001ffffffffff\n'), []);
    const none = missingPrivileges('CapEff:\t0000000000000000\n');
    assert.equal(none.length, 2);
    assert.match(none[0]!, /CAP_NET_ADMIN/);
    assert.match(none[1]!, /CAP_SYS_ADMIN/);
    const noNetAdmin = (0x1ffffffffffn & ~(1n << 12n)).toString(16);
    assert.deepEqual(
      missingPrivileges(`CapEff:\t${noNetAdmin}\n`).map((m) => m.split(' ')[0]),
      ['CAP_NET_ADMIN'],
    );
  });

  it('refuses to start without CAP_NET_ADMIN, saying what is missing and what to do', async () => {
    // Root without NET_ADMIN and SYS_ADMIN in its bounding set: what an unprivileged service would have.
    const r = await run('setpriv', [
      '--bounding-set=-net_admin,-sys_admin',
      process.execPath,
      '--import',
      'tsx',
      CLI,
      'serve',
      '--state-dir',
      stateDir,
      '--port',
      '0',
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /lacks CAP_NET_ADMIN .* and CAP_SYS_ADMIN/);
    assert.match(r.stderr, /--no-agent/);
  });

  it('sfip agent checks the same before it connects anywhere', async () => {
    const r = await run('setpriv', [
      '--bounding-set=-net_admin',
      process.execPath,
      '--import',
      'tsx',
      CLI,
      'agent',
      '--node',
      'n1',
      '--store',
      'etcd://127.0.0.1:9',
      '--state-dir',
      stateDir,
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /The sfip agent changes the kernel and lacks CAP_NET_ADMIN/);
    assert.doesNotMatch(r.stderr, /CAP_SYS_ADMIN/);
  });

  for (const workers of ['0', '2'])
    it(`explains a port that is already in use instead of a raw EADDRINUSE, once (--api-workers ${workers})`, async () => {
      const holder = createServer();
      await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
      try {
        const port = (holder.address() as AddressInfo).port;
        const r = await run(process.execPath, [
          '--import',
          'tsx',
          CLI,
          'serve',
          '--no-agent',
          '--state-dir',
          stateDir,
          '--port',
          String(port),
          '--api-workers',
          workers,
        ]);
        assert.notEqual(r.code, 0);
        assert.equal(r.stderr.match(/Cannot listen on/g)?.length, 1, r.stderr);
        assert.match(
          r.stderr,
          new RegExp(`Cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use`),
        );
        assert.match(r.stderr, /--port/);
      } finally {
        await new Promise((resolve) => holder.close(resolve));
      }
    });
});
