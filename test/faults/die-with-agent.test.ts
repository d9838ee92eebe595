/**
 * A kernel tool must not outlive a SIGKILLed agent: an orphaned `nft -f` or `iptables-restore` committing after a
 * restarted agent has read the kernel would make that agent plan against stale state (src/exec/run.ts).
 */
import assert from 'node:assert/strict';
import { spawnProgram as spawn } from '../../src/exec/spawn.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { it } from 'node:test';
import { processAlive as alive } from '../support/process-alive.js';

it('programs started through run() or its spawn server die with the process that started them; plain children do not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sfip-orphans-'));
  const script = join(import.meta.dirname, '..', 'support', 'spawn-orphans.ts');
  const parent = spawn(
    process.execPath,
    ['--import', 'tsx', script, join(dir, 'run'), join(dir, 'plain'), join(dir, 'server')],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const line = await new Promise<string>((resolve) =>
    createInterface({ input: parent.stdout! }).once('line', resolve),
  );
  const pids = JSON.parse(line) as { viaRun: number; plain: number; viaServer: number; server: number };
  try {
    assert.ok(alive(pids.viaRun) && alive(pids.plain) && alive(pids.viaServer) && alive(pids.server));
    parent.kill('SIGKILL');
    await new Promise((r) => parent.once('exit', r));
    const deadline = Date.now() + 2000;
    const orphans = () => [pids.viaRun, pids.server, pids.viaServer].filter(alive);
    while (orphans().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(alive(pids.viaRun), false, 'the child started through run() outlived its parent');
    assert.equal(alive(pids.server), false, 'the spawn server outlived the process that started it');
    assert.equal(alive(pids.viaServer), false, 'the child started through the spawn server outlived it');
    assert.equal(alive(pids.plain), true, 'control: a plain child survives its parent');
  } finally {
    for (const pid of [pids.viaRun, pids.plain, pids.viaServer, pids.server])
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
