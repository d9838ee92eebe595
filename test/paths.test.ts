/**
 * src/paths.ts finds the package's files from every layout, and the product (bin/sfip) runs the bundle that
 * `npm run build` makes, not the tsc build or the source.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { execFileProgram } from '../src/exec/spawn.js';
import {
  entryScript,
  findPackageRoot,
  LAYOUT,
  nodeProgram,
  PACKAGE_ROOT,
  packagePath,
} from '../src/paths.js';

const ROOT = join(import.meta.dirname, '..');
/** Every program sfip starts as a node process (scripts/bundle.mjs bundles each). */
const PROGRAMS = ['cli', 'daemon/api-worker-main', 'lab/netprobe'];

describe('package paths', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'sfip-paths-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('finds the package root from the source run through tsx', () => {
    assert.equal(PACKAGE_ROOT, ROOT);
    assert.equal(LAYOUT, 'source');
    assert.equal(packagePath('package.json'), join(ROOT, 'package.json'));
  });

  it("passes over another package's package.json on the way up, and says where it looked when there is none", () => {
    const root = join(scratch, 'app');
    const nested = join(root, 'node_modules', 'other', 'lib');
    mkdirSync(nested, { recursive: true });
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'sfip' }));
    writeFileSync(join(root, 'node_modules', 'other', 'package.json'), JSON.stringify({ name: 'other' }));
    assert.equal(findPackageRoot(nested), root);
    const lonely = join(scratch, 'lonely');
    mkdirSync(lonely);
    assert.throws(() => findPackageRoot(lonely), new RegExp(`no folder above ${lonely}`));
  });

  it('names each program in each layout, and the build made the compiled and bundled ones', () => {
    for (const name of PROGRAMS) {
      assert.equal(entryScript(name, 'source'), join(ROOT, 'src', `${name}.ts`));
      assert.equal(entryScript(name, 'compiled'), join(ROOT, 'dist', `${name}.js`));
      assert.equal(entryScript(name, 'bundle'), join(ROOT, 'dist', 'bundle', `${name}.js`));
      for (const layout of ['source', 'compiled', 'bundle'] as const) {
        assert.ok(existsSync(entryScript(name, layout)), `${entryScript(name, layout)}: run npm run build`);
      }
    }
    assert.deepEqual(nodeProgram('lab/netprobe', 'source'), [
      process.execPath,
      '--import',
      'tsx',
      join(ROOT, 'src', 'lab', 'netprobe.ts'),
    ]);
  });

  it('runs the bundle as bin/sfip: no module of src/ or of the tsc build is loaded', async () => {
    // A module hook that names every ES module node loads (the bundle's externals are CommonJS, loaded by require).
    writeFileSync(
      join(scratch, 'hooks.mjs'),
      "export async function load(url, context, next) {\n  if (url.startsWith('file:')) process.stderr.write(`loaded ${url}\\n`);\n  return next(url, context);\n}\n",
    );
    writeFileSync(
      join(scratch, 'register.mjs'),
      "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n",
    );
    const { stdout, stderr } = await promisify(execFileProgram)(process.execPath, [
      '--import',
      join(scratch, 'register.mjs'),
      join(ROOT, 'bin', 'sfip'),
      'version',
      '--json',
    ]);
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string })
      .version;
    assert.equal((JSON.parse(stdout) as { version: string }).version, version);
    const ours = stderr
      .split('\n')
      .filter((line) => line.startsWith('loaded file://'))
      .map((line) => decodeURIComponent(line.slice('loaded file://'.length)))
      .filter((path) => path.startsWith(`${ROOT}/`) && !path.startsWith(`${ROOT}/node_modules/`))
      .map((path) => path.slice(ROOT.length + 1));
    assert.ok(ours.includes('dist/bundle/cli.js'), `bin/sfip loaded ${ours.join(', ')}`);
    assert.deepEqual(
      ours.filter((path) => path !== 'bin/sfip' && !path.startsWith('dist/bundle/')),
      [],
      'bin/sfip loaded modules outside dist/bundle',
    );
  });
});
