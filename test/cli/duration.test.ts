import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Command, Option } from 'commander';
import { parseRateLimit } from '../../src/api/rate-limit-spec.js';
import { formatDuration, parseDurationMs } from '../../src/cli/duration.js';
import { buildProgram } from '../../src/cli/main.js';
import { spawnProgram } from '../../src/exec/spawn.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');

function sfip(
  env: NodeJS.ProcessEnv,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawnProgram(process.execPath, ['--import', 'tsx', CLI, ...args], {
      env: { ...process.env, NO_COLOR: '1', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

describe('durations', () => {
  it('parses every unit and refuses a bare number, naming the syntax', () => {
    assert.equal(parseDurationMs('500ms'), 500);
    assert.equal(parseDurationMs('30s'), 30_000);
    assert.equal(parseDurationMs('1.5m'), 90_000);
    assert.equal(parseDurationMs('1h'), 3_600_000);
    assert.equal(parseDurationMs('30d'), 30 * 86_400_000);
    for (const bad of ['30000', '', '1 h', '-1s', '1w', '1e3s', '0x10s', '30S']) {
      assert.throws(() => parseDurationMs(bad), /ms, s, m, h or d/, bad);
    }
    assert.throws(() => parseDurationMs('30000'), /bare number/);
  });

  it('formats exactly what it parses back', () => {
    for (const ms of [1, 500, 1000, 1500, 30_000, 90_000, 3_600_000, 86_400_000, 10 * 86_400_000]) {
      assert.equal(parseDurationMs(formatDuration(ms)), ms, String(ms));
    }
    assert.equal(formatDuration(30_000), '30s');
    assert.equal(formatDuration(1500), '1500ms');
  });

  it('rate limits take the same window syntax', () => {
    assert.deepEqual(parseRateLimit('500/10s'), { max: 500, windowMs: 10_000 });
    assert.deepEqual(parseRateLimit('6000/1h'), { max: 6000, windowMs: 3_600_000 });
    assert.throws(() => parseRateLimit('500/10'), /500\/10s/);
  });

  it('every help default of a duration option is in the syntax that parses back to it', () => {
    const seen: string[] = [];
    for (const command of allCommands(buildProgram())) {
      for (const option of command.options as Option[]) {
        if (!option.flags.includes('<duration>') || option.defaultValue === undefined) continue;
        seen.push(`${command.name()} ${option.long}`);
        const shown = option.defaultValueDescription;
        assert.ok(shown !== undefined, `${command.name()} ${option.long} shows its default raw`);
        const value: unknown = option.parseArg!(shown, undefined);
        assert.equal(value, option.defaultValue, `${command.name()} ${option.long}: ${shown}`);
      }
    }
    for (const expected of [
      'serve --resync-interval',
      'serve --request-timeout',
      'top --interval',
      'agent --lease-ttl',
    ])
      assert.ok(seen.includes(expected), `${expected} checked (${seen.join(', ')})`);
  });

  it('the CLI refuses a bare number with the syntax, and shows defaults in it', async () => {
    const bare = await sfip(
      {},
      'serve',
      '--state-dir',
      '/proc/sfip-cannot-exist',
      '--resync-interval',
      '30000',
    );
    assert.notEqual(bare.code, 0);
    assert.match(
      bare.stderr,
      /'30000' is not a duration \(a bare number has no unit\): expected .*ms, s, m, h or d/,
    );
    const help = await sfip({}, 'serve', '--help');
    assert.match(help.stdout, /--resync-interval[^]*\(default: 30s\)/);
    assert.match(help.stdout, /\(default: 500\/10s\)/);
    assert.match(help.stdout, /\(default: 256KiB\)/);
    assert.doesNotMatch(help.stdout, /windowMs|30000|262144/);
  });

  it('token --expires takes seconds too, and refuses a bare number', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sfip-duration-'));
    try {
      const env = { SFIP_STATE_DIR: dir };
      const made = await sfip(env, '--json', 'token', 'create', '--project', 'alice', '--expires', '90s');
      assert.equal(made.code, 0, made.stderr);
      const token = JSON.parse(made.stdout) as { created_at: string; expires_at: string };
      assert.equal(Date.parse(token.expires_at) - Date.parse(token.created_at), 90_000);
      const bare = await sfip(env, 'token', 'create', '--project', 'alice', '--expires', '90');
      assert.notEqual(bare.code, 0);
      assert.match(bare.stderr, /'90' is not a duration/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
