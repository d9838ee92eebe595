import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where this package's files are, however its code runs: the source through tsx (src/), the tsc build (dist/), or
 * the bundle that bin/sfip runs (dist/bundle/, scripts/bundle.mjs). A path relative to a module's own file would
 * break in the bundle, where every module shares the bundle's file: every file the code reads or starts (package.json,
 * dist/native, dist/bpf, dist/web, the scripts of its other processes) is found from here.
 */

/** How the running code was loaded. */
export type Layout = 'source' | 'compiled' | 'bundle';

const HERE = fileURLToPath(import.meta.url);

/** The nearest folder above `from` whose package.json is sfip's (another package's, e.g. a host project's, is not). */
export function findPackageRoot(from: string): string {
  for (let dir = from; ;) {
    const manifest = join(dir, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'sfip'
    ) {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`sfip's package.json is in no folder above ${from}`);
    dir = parent;
  }
}

/** The folder of sfip's package.json. */
export const PACKAGE_ROOT = findPackageRoot(dirname(HERE));

const BUNDLE_DIR = join(PACKAGE_ROOT, 'dist', 'bundle');

export const LAYOUT: Layout = HERE.endsWith('.ts')
  ? 'source'
  : HERE.startsWith(BUNDLE_DIR + sep)
    ? 'bundle'
    : 'compiled';

/** A file of the package, e.g. packagePath('dist', 'native', 'sfip-garp'). */
export function packagePath(...segments: string[]): string {
  return join(PACKAGE_ROOT, ...segments);
}

/** What `npm run build` compiles: native helpers, eBPF objects and the dashboard's page, the same for every layout. */
export const NATIVE_DIR = packagePath('dist', 'native');
export const BPF_DIR = packagePath('dist', 'bpf');
export const WEB_DIR = packagePath('dist', 'web');

/**
 * The script of one of sfip's programs, named by its source below src/ without extension ('cli',
 * 'daemon/api-worker-main', 'lab/netprobe'), in the layout that runs now: a bundle runs bundles, the tsc build its
 * .js files, tsx the source. Every entry point must be one of scripts/bundle.mjs's.
 */
export function entryScript(name: string, layout: Layout = LAYOUT): string {
  switch (layout) {
    case 'source':
      return packagePath('src', `${name}.ts`);
    case 'compiled':
      return packagePath('dist', `${name}.js`);
    case 'bundle':
      return join(BUNDLE_DIR, `${name}.js`);
  }
}

/**
 * Node's flags for another process of this package: source maps if this one has them (bin/sfip turns them on
 * without a flag, which a child would not inherit), so that its stack traces name src/ files too.
 */
export function childNodeFlags(): string[] {
  return process.sourceMapsEnabled && !process.execArgv.includes('--enable-source-maps')
    ? ['--enable-source-maps']
    : [];
}

/** The command line that starts a node program of this package (tsx loads the source). */
export function nodeProgram(name: string, layout: Layout = LAYOUT): string[] {
  const script = entryScript(name, layout);
  return layout === 'source'
    ? [process.execPath, '--import', 'tsx', script]
    : [process.execPath, ...childNodeFlags(), script];
}
