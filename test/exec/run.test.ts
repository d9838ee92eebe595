/**
 * run() hands a program its input whole, through a pipe when small and through an unlinked file when large
 * (see PIPE_INPUT_MAX), through the pipe again when no file can be written, and leaves no file behind.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, it } from 'node:test';
import { ExecError, isNamespaceGone, run } from '../../src/exec/run.js';

const leftovers = () => readdirSync(tmpdir()).filter((f) => f.startsWith('sfip-input-'));

describe('run', () => {
  it('passes small and large inputs whole, and leaves no input file behind', async () => {
    const before = leftovers();
    const small = 'route replace local 203.0.113.1/32\n';
    assert.equal((await run('cat', [], { input: small })).stdout, small);
    // 100,000 lines of 30 bytes: megabytes, far over what a pipe takes at once.
    const large = Array.from({ length: 100_000 }, (_, i) => `line ${String(i).padStart(24, '0')}\n`).join('');
    const { stdout } = await run('cat', [], { input: large });
    assert.equal(stdout.length, large.length);
    assert.equal(stdout, large);
    assert.deepEqual(leftovers(), before);
  });

  it('falls back to the pipe when no temporary file can be written', async () => {
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = '/nonexistent-sfip-tmp';
    try {
      const large = 'y'.repeat(300_000);
      assert.equal((await run('cat', [], { input: large })).stdout, large);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  });

  it('reports a failing program with its stderr, a large input included', async () => {
    const large = 'x'.repeat(200_000);
    await assert.rejects(
      run('sh', ['-c', 'cat >/dev/null; echo refused >&2; exit 3'], { input: large }),
      (error: unknown) => error instanceof ExecError && error.code === 3 && /refused/.test(error.message),
    );
  });

  it('tells a missing namespace from other failures, whichever tool entered it', async () => {
    const missing = `sfipgone${process.pid % 100000}`;
    const failure = (file: string, args: string[]) =>
      run(file, args).then(
        () => assert.fail(`${file} succeeded in a missing namespace`),
        (error: unknown) => error,
      );
    assert.ok(isNamespaceGone(await failure('ip', ['netns', 'exec', missing, 'true'])));
    assert.ok(isNamespaceGone(await failure('nsenter', [`--net=/run/netns/${missing}`, '--', 'true'])));
    assert.ok(isNamespaceGone(new Error(`network namespace ${missing} does not exist`)));
    assert.equal(isNamespaceGone(await failure('ip', ['link', 'show', 'dev', 'sfip-no-such-dev'])), false);
    assert.equal(isNamespaceGone(new Error('table does not exist')), false);
  });
});
