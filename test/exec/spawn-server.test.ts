/**
 * What only the spawn server can do wrong: end. A request it was running fails with an ExecError and is not run
 * again (it may have taken effect), its program dies with it, and later requests start directly; a server that
 * cannot start loses no request. The daemon records each program once, when asking for it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { RECORD_PROGRAMS_ENV } from '../../src/exec/record-programs.js';
import { ExecError } from '../../src/exec/run.js';
import { startSpawnServer } from '../../src/exec/spawn-client.js';
import { processAlive as alive } from '../support/process-alive.js';

const dir = mkdtempSync(join(tmpdir(), 'sfip-spawn-server-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(condition(), what);
}

describe('spawn server', () => {
  it('killed mid-way: in-flight requests reject and their programs die; later ones start directly', async () => {
    const warnings: string[] = [];
    const server = startSpawnServer({ warn: (message) => warnings.push(message) });
    assert.equal(await server.ready, true);
    assert.equal((await server.run('echo', ['before'])).stdout, 'before\n');
    const pidFile = join(dir, 'in-flight');
    const marker = join(dir, 'ran');
    // Each run appends to `marker`: a request run again would show as a second line.
    const inFlight = [1, 2].map((i) =>
      server.run('sh', ['-c', `echo ${i} >> ${marker}; echo $$ > ${pidFile}.${i}; exec sleep 60`]),
    );
    const settled = inFlight.map((p) =>
      p.then(
        () => 'resolved',
        (error: unknown) => error,
      ),
    );
    const pidOf = (i: number) => Number(readFileSync(`${pidFile}.${i}`, 'utf8'));
    await until(() => {
      try {
        return pidOf(1) > 0 && pidOf(2) > 0;
      } catch {
        return false;
      }
    }, 'the in-flight programs started');
    process.kill(server.pid!, 'SIGKILL');
    for (const outcome of await Promise.all(settled)) {
      assert.ok(outcome instanceof ExecError, `an in-flight request ${String(outcome)}`);
      assert.match(outcome.message, /spawn server ended \(exited \(SIGKILL\)\).*not run again/);
    }
    // DIE_WITH_PARENT: the programs the server started die with it.
    await until(() => !alive(pidOf(1)) && !alive(pidOf(2)), 'an in-flight program outlived the spawn server');
    assert.equal(server.serving, false);
    assert.equal((await server.run('echo', ['after'])).stdout, 'after\n');
    await assert.rejects(server.run('sh', ['-c', 'echo no >&2; exit 4']), /failed \(exit 4\): no/);
    assert.deepEqual(readFileSync(marker, 'utf8').split('\n').filter(Boolean).sort(), ['1', '2']);
    assert.equal(warnings.length, 1, `told once: ${warnings.join(' | ')}`);
    assert.match(warnings[0]!, /exited \(SIGKILL\).*start from the daemon's own process/);
  });

  it('that cannot start: requests start directly, once each, before and after it failed', async () => {
    const warnings: string[] = [];
    const server = startSpawnServer({ command: ['false'], warn: (message) => warnings.push(message) });
    const marker = join(dir, 'queued');
    const once = (i: number) => server.run('sh', ['-c', `echo ${i} >> ${marker}; echo ${i}`]);
    const early = [once(1), once(2)];
    assert.equal(await server.ready, false);
    const results = await Promise.all([...early, once(3)]);
    assert.deepEqual(
      results.map((r) => r.stdout),
      ['1\n', '2\n', '3\n'],
    );
    assert.deepEqual(readFileSync(marker, 'utf8').split('\n').filter(Boolean).sort(), ['1', '2', '3']);
    assert.equal(server.serving, false);
    assert.deepEqual(warnings, [
      "the spawn server exited (exit code 1): programs start from the daemon's own process from now on",
    ]);
  });

  it('records each program once, in the process that asks for it', async () => {
    const file = join(dir, 'programs');
    const previous = process.env[RECORD_PROGRAMS_ENV];
    // Set before the server starts: it inherits the variable, and must not record what it was asked to start.
    process.env[RECORD_PROGRAMS_ENV] = file;
    const server = startSpawnServer();
    try {
      assert.equal(await server.ready, true);
      await server.run('uname', ['-r']);
      await server.run('id', ['-u'], { netns: null });
    } finally {
      server.close();
      if (previous === undefined) delete process.env[RECORD_PROGRAMS_ENV];
      else process.env[RECORD_PROGRAMS_ENV] = previous;
    }
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    assert.deepEqual(
      lines.map((line) => line.split('\t')[0]),
      // The server's own start (setpriv, node), then each program once.
      ['setpriv', 'node', 'setpriv', 'uname', 'setpriv', 'id'],
    );
  });
});
