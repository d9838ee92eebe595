// Bundles sfip's programs into dist/bundle/ (what bin/sfip runs): starting from ~800 module files (270 of ours,
// the rest from node_modules) took 0.3-0.4 s of every daemon start and CLI command, the bundle a fraction of it.
// One entry per program that runs in its own process; src/paths.ts finds them (entryScript). Shared code and the
// daemon, which the CLI imports only for `sfip serve`, are split into chunks, so other commands do not load it.
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const OUT = 'dist/bundle';

/** Entry points below src/, without extension: every program sfip starts as a node process. */
const ENTRIES = ['cli', 'daemon/api-worker-main', 'lab/netprobe', 'exec/spawn-server-main'];

/**
 * Loaded from node_modules at run time, not bundled: native addons (better-sqlite3, bpf) load their .node files
 * from their own package; etcd3 is required only when the etcd store is chosen (grpc is heavy); the others find
 * files of their own package from __dirname, which an ES module bundle has not (pino's transports start workers
 * from pino's and thread-stream's files, the swagger plugins read their package.json and serve static files).
 */
const EXTERNAL = [
  'better-sqlite3',
  'bpf',
  'etcd3',
  'pino',
  'pino-pretty',
  '@fastify/swagger',
  '@fastify/swagger-ui',
];

/**
 * CommonJS modules bundled into an ES module have no __dirname or __filename: each is replaced by this name, and a
 * bundle that still holds it is refused (below) rather than failing when that code first runs.
 */
const NO_DIRNAME = '__sfip_bundled_module_has_no_dirname';

rmSync(OUT, { recursive: true, force: true });
await build({
  entryPoints: ENTRIES.map((name) => ({ in: `src/${name}.ts`, out: name })),
  outdir: OUT,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: EXTERNAL,
  define: { __dirname: NO_DIRNAME, __filename: NO_DIRNAME },
  // Bundled CommonJS calls require (for node: modules and the externals): an ES module has none of its own.
  banner: {
    js: "import { createRequire as __sfipCreateRequire } from 'node:module'; const require = __sfipCreateRequire(import.meta.url);",
  },
  // Stack traces through bin/sfip, which enables source maps, name src/ files; the sources themselves are not needed.
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
});

/** The module whose code is at `at`: esbuild precedes each module's code with a line comment naming its file. */
function moduleAt(text, at) {
  for (let line = text.lastIndexOf('\n// ', at); line >= 0; line = text.lastIndexOf('\n// ', line - 1)) {
    const name = /^\n\/\/ (\S+\.[cm]?[jt]sx?)\n/.exec(text.slice(line, line + 300))?.[1];
    if (name) return name;
  }
  return 'an unknown module';
}

const files = readdirSync(OUT, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'));
const offenders = files.flatMap((file) => {
  const text = readFileSync(join(OUT, file), 'utf8');
  const found = [];
  for (let at = text.indexOf(NO_DIRNAME); at >= 0; at = text.indexOf(NO_DIRNAME, at + 1)) {
    found.push(`${file}: ${moduleAt(text, at)}`);
  }
  return found;
});
if (offenders.length > 0) {
  console.error(
    `bundle: these modules use __dirname or __filename, which the bundle has not; add their package to EXTERNAL in scripts/bundle.mjs:\n  ${[...new Set(offenders)].join('\n  ')}`,
  );
  process.exit(1);
}
