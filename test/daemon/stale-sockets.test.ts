import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { removeStaleSockets } from '../../src/daemon/stale-sockets.js';
import { execFileSyncProgram } from '../../src/exec/spawn.js';

/** A pid that belonged to a process that has exited (and, on a quiet machine, was not reused since). */
function deadPid(): number {
  return Number(
    execFileSyncProgram(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    }),
  );
}

test("a killed primary's sockets are removed; live processes' and other files are kept", () => {
  const dir = mkdtempSync(join(tmpdir(), 'sfip-stale-'));
  try {
    const dead = deadPid();
    const names = [
      `api-${dead}.sock`,
      `write-${dead}.sock`,
      `api-${process.pid}.sock`,
      `write-${process.ppid}.sock`,
      'api-0.sock',
      'write-x.sock',
      'sfip.db',
      `${dead}.sock`,
    ];
    for (const name of names) writeFileSync(join(dir, name), '');
    assert.deepEqual(removeStaleSockets(dir, process.pid), [`api-${dead}.sock`, `write-${dead}.sock`]);
    assert.deepEqual(
      readdirSync(dir).sort(),
      names.filter((name) => !name.startsWith(`api-${dead}.`) && !name.startsWith(`write-${dead}.`)).sort(),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing state directory removes nothing', () => {
  assert.deepEqual(removeStaleSockets(join(tmpdir(), 'sfip-no-such-dir-stale')), []);
});
