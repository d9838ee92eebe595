/**
 * The last test of a run (its name sorts last): every program the run started is installed by scripts/setup.sh.
 * scripts/test.sh points SFIP_RECORD_PROGRAMS at a fresh file for the whole run; every process (the test files,
 * the `sfip serve` they start, bash scripts through BASH_ENV) appends each program it starts. A program missing
 * from scripts/packages.txt fails here, on this machine, instead of on a fresh one.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { execFileProgram } from '../src/exec/spawn.js';
import { RECORD_PROGRAMS_ENV } from '../src/exec/record-programs.js';
import { promisify } from 'node:util';

const ROOT = join(import.meta.dirname, '..');

interface PackageList {
  /** Debian package -> the files sfip uses from it. */
  readonly packages: ReadonlyMap<string, readonly string[]>;
  /** Program names every machine has (see the file's comment). */
  readonly base: ReadonlySet<string>;
}

/** scripts/packages.txt, read the way setup.sh reads it. */
function readPackageList(): PackageList {
  const packages = new Map<string, string[]>();
  const base = new Set<string>();
  for (const raw of readFileSync(join(ROOT, 'scripts/packages.txt'), 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [head, ...rest] = line.split(/\s+/);
    if (head === '(base):') for (const name of rest) base.add(name);
    else packages.set(head!.replace(/:$/, ''), rest);
  }
  return { packages, base };
}

const basename = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/** Which package dpkg says owns a program here: only to suggest the fix in a failure message. */
async function dpkgOwner(program: string): Promise<string> {
  const run = promisify(execFileProgram);
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    try {
      const { stdout } = await run('dpkg', ['-S', `${dir}/${program}`]);
      return stdout.split(':')[0]!;
    } catch {
      // not there, or not dpkg's
    }
  }
  return 'unknown (not found on this machine, or not from a Debian package)';
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : sourceFiles(path);
    return /\.(ts|js|mjs)$/.test(name) ? [path] : [];
  });
}

describe('every program the code and tests run is installed by scripts/setup.sh', () => {
  const list = readPackageList();

  it('starts programs only through src/exec, which records them', () => {
    const direct = ['src', 'test', 'bench', 'scripts']
      .flatMap((dir) => sourceFiles(join(ROOT, dir)))
      .filter((path) => !relative(ROOT, path).startsWith('src/exec/'))
      .filter((path) =>
        /^import\s+(?!type\b)[^;]*from\s+'(node:)?child_process'/m.test(readFileSync(path, 'utf8')),
      )
      .map((path) => relative(ROOT, path));
    assert.deepEqual(
      direct,
      [],
      `these files start programs with node:child_process directly; use spawnProgram/execFileProgram from src/exec/spawn.ts (or run from src/exec/run.ts) so the program is recorded`,
    );
  });

  it('lists files that exist after set-up (a wrong file would make setup.sh reinstall on every run)', () => {
    const absent = [...list.packages].flatMap(([pkg, files]) =>
      files.filter((f) => !existsSync(f)).map((f) => `${pkg}: ${f}`),
    );
    assert.deepEqual(absent, [], 'scripts/packages.txt names files that are not on this machine');
  });

  const recordFile = process.env[RECORD_PROGRAMS_ENV];
  it(
    'covers every program this test run started',
    { skip: recordFile ? false : `${RECORD_PROGRAMS_ENV} is not set: run the whole suite with npm test` },
    async () => {
      const examples = new Map<string, string>();
      for (const line of readFileSync(recordFile!, 'utf8').split('\n')) {
        const [program, command] = line.split('\t');
        if (program && !examples.has(program)) examples.set(program, command ?? '');
      }
      // A record this small means recording did not happen, not that the run needed nothing.
      assert.ok(examples.has('ip') && examples.has('setpriv'), `the record ${recordFile} looks incomplete`);
      const provided = new Set([...list.packages.values()].flat().map(basename));
      // The project's own programs (npm run build compiles native/*.c into dist/native) need no package.
      const own = (p: string) => existsSync(join(ROOT, 'dist/native', p));
      const uncovered = [...examples.keys()]
        .filter((p) => !provided.has(p) && !list.base.has(p) && !own(p))
        .sort();
      const explained = await Promise.all(
        uncovered.map(
          async (p) => `${p} (dpkg: ${await dpkgOwner(p)}), started as: ${examples.get(p)!.slice(0, 160)}`,
        ),
      );
      assert.deepEqual(
        explained,
        [],
        'programs the run started that scripts/packages.txt does not provide: add their Debian package there ' +
          '(or, for a program of the minimal system, to its (base) lines)',
      );
    },
  );
});
