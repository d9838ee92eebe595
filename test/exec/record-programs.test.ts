/**
 * The record of started programs that the program-coverage test (test/zz-program-coverage.test.ts) checks: the
 * wrappers are seen through, and each way of starting a program (run, spawnProgram, execFileProgram, a bash
 * script) writes to the record.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { programsOf, RECORD_PROGRAMS_ENV } from '../../src/exec/record-programs.js';
import { run } from '../../src/exec/run.js';
import { execFileProgram, spawnProgram } from '../../src/exec/spawn.js';

const ROOT = join(import.meta.dirname, '..', '..');

describe('programsOf', () => {
  it('sees through setpriv, nsenter, ip netns exec and timeout', () => {
    assert.deepEqual(
      programsOf(['setpriv', '--pdeathsig', 'KILL', '--', 'ip', 'netns', 'exec', 'r1', 'nft', '-f', '-']),
      ['setpriv', 'ip', 'nft'],
    );
    assert.deepEqual(programsOf(['nsenter', '--net=/run/netns/r1', '--', 'tc', '-batch', '-']), [
      'nsenter',
      'tc',
    ]);
    assert.deepEqual(programsOf(['nsenter', '--net=/run/netns/r1', 'bpftool', 'net']), [
      'nsenter',
      'bpftool',
    ]);
    assert.deepEqual(programsOf(['nsenter', '-t', '1', '-n', 'ip', 'link']), ['nsenter', 'ip']);
    assert.deepEqual(
      programsOf(['ip', 'netns', 'exec', 'v1', 'timeout', '-s', 'INT', '5', 'tcpdump', '-i', 'eth0']),
      ['ip', 'timeout', 'tcpdump'],
    );
    assert.deepEqual(programsOf(['/usr/sbin/ip', '-j', 'link', 'show']), ['ip']);
    assert.deepEqual(programsOf(['ip', 'netns', 'exec', 'v1']), ['ip'], 'no command after the namespace');
  });
});

describe('recording', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sfip-record-'));
  const file = join(dir, 'programs');
  const previous = process.env[RECORD_PROGRAMS_ENV];
  process.env[RECORD_PROGRAMS_ENV] = file;
  after(() => {
    if (previous === undefined) delete process.env[RECORD_PROGRAMS_ENV];
    else process.env[RECORD_PROGRAMS_ENV] = previous;
    rmSync(dir, { recursive: true, force: true });
  });
  const recorded = () =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split('\t')[0]);

  it('records what run, spawnProgram and execFileProgram start, and the programs of bash scripts', async () => {
    await run('uname', ['-r']);
    await new Promise((resolve) => spawnProgram('id', ['-u']).on('close', resolve));
    await promisify(execFileProgram)('nproc', []);
    // scripts/test.sh sets BASH_ENV for the whole run; bash sources it and records through a DEBUG trap.
    await promisify(execFileProgram)(
      'bash',
      ['-c', 'X=1 hostname >/dev/null; echo built-in; seq 1 >/dev/null'],
      {
        env: { ...process.env, BASH_ENV: join(ROOT, 'scripts/record-programs.bash') },
      },
    );
    assert.deepEqual(recorded(), ['setpriv', 'uname', 'id', 'nproc', 'bash', 'hostname', 'seq']);
  });
});
