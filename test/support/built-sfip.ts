/**
 * The product as a user runs it, bin/sfip (the bundle in dist/bundle/), for the end-to-end tests. `npm run build`
 * makes it (scripts/test.sh runs set-up, which builds, first). A bundle older than a file it is built from is
 * refused, so that a test never runs a stale build.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { entryScript, packagePath } from '../../src/paths.js';

/** What the bundle is made of: the source and the script that bundles it. */
function inputs(): string[] {
  const src = packagePath('src');
  return [
    ...readdirSync(src, { recursive: true, encoding: 'utf8' }).map((file) => join(src, file)),
    packagePath('scripts', 'bundle.mjs'),
  ];
}

/** Node's arguments that run bin/sfip, once its bundle is known to be newer than everything it is built from. */
export function builtSfip(): string[] {
  const bundle = entryScript('cli', 'bundle');
  const built = statSync(bundle, { throwIfNoEntry: false })?.mtimeMs;
  if (built === undefined) throw new Error(`${bundle} is missing: run npm run build`);
  const newer = inputs().find((file) => statSync(file).mtimeMs > built);
  if (newer !== undefined) throw new Error(`${bundle} is older than ${newer}: run npm run build`);
  return [packagePath('bin', 'sfip')];
}
