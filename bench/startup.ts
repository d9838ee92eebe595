/**
 * Start-up of the product as a user runs it (bin/sfip): cheap CLI commands, whose time is mostly loading the code,
 * and `sfip serve` until its API listens (no agent, fresh state). `node --import tsx bench/startup.ts [--runs 10]
 * [--root OTHER_TREE/]` (after `npm run build`); with --root, the other tree's bin/sfip runs interleaved with this
 * one's, so both see the same machine state. Prints median and range in ms, and the load average around the run.
 * Not a test: the numbers depend on the machine and on whatever else runs on it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { execFileProgram, spawnProgram as spawn } from '../src/exec/spawn.js';
import { packagePath } from '../src/paths.js';
import { shuffled, summarize } from './stats.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    /** Another built tree to compare with (e.g. main's), ending with /. */
    root: { type: 'string' },
    /** First port of the daemons' API (each run takes the next one). */
    port: { type: 'string', default: '29920' },
  },
});
const runs = Number(values.runs);
let port = Number(values.port);

interface Tree {
  readonly name: string;
  readonly bin: string;
}
const trees: Tree[] = [
  { name: 'this tree', bin: packagePath('bin', 'sfip') },
  ...(values.root ? [{ name: values.root, bin: join(values.root, 'bin', 'sfip') }] : []),
];

/** ms until `sfip args` exits; a failure stops the benchmark (a broken build would time its error message). */
function command(bin: string, args: readonly string[], expectCode = 0): Promise<number> {
  const began = performance.now();
  return new Promise((resolve, reject) => {
    execFileProgram(process.execPath, [bin, ...args], (error, _stdout, stderr) => {
      const ms = performance.now() - began;
      const code = error ? error.code : 0;
      if (code === expectCode) resolve(ms);
      else reject(new Error(`${bin} ${args.join(' ')} exited ${code}, not ${expectCode}: ${stderr}`));
    });
  });
}

/** ms from spawning `sfip serve` until it logs that its API listens; then it is stopped. */
async function serve(bin: string, apiWorkers: number): Promise<number> {
  const stateDir = mkdtempSync(join(tmpdir(), 'sfip-startup-'));
  const began = performance.now();
  const child = spawn(
    process.execPath,
    [
      bin,
      'serve',
      '--state-dir',
      stateDir,
      '--port',
      String(port++),
      '--no-agent',
      '--backend',
      'fake',
      '--api-workers',
      String(apiWorkers),
      '--log-level',
      'info',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  try {
    return await new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (line.includes('"sfip API listening"')) resolve(performance.now() - began);
      });
      child.once('exit', (code) => reject(new Error(`${bin} serve exited with ${code}: ${stderr}`)));
    });
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    rmSync(stateDir, { recursive: true, force: true });
  }
}

const cases: { name: string; run: (bin: string) => number | Promise<number> }[] = [
  { name: 'sfip --version', run: (bin) => command(bin, ['--version']) },
  { name: 'sfip version --json', run: (bin) => command(bin, ['version', '--json']) },
  { name: 'sfip completion bash', run: (bin) => command(bin, ['completion', 'bash']) },
  // Refused at once: the time is the CLI's start and its client.
  {
    name: 'sfip fip list (refused)',
    run: (bin) => command(bin, ['--url', 'http://127.0.0.1:9', '--token', 'x', 'fip', 'list'], 1),
  },
  { name: 'sfip serve until listening, --api-workers 0', run: (bin) => serve(bin, 0) },
  { name: 'sfip serve until listening, --api-workers 2', run: (bin) => serve(bin, 2) },
];

const before = loadavg().map((l) => l.toFixed(2));
console.log(
  `load average before: ${before.join(' ')}; ${runs} runs of each, trees interleaved in a shuffled order`,
);
for (const [index, c] of cases.entries()) {
  const samples = new Map<Tree, number[]>(trees.map((t) => [t, []]));
  for (let i = 0; i < runs; i++) {
    for (const tree of shuffled(trees, index * 1000 + i)) samples.get(tree)!.push(await c.run(tree.bin));
  }
  for (const tree of trees) {
    const s = summarize(samples.get(tree)!);
    console.log(
      `${c.name.padEnd(46)} ${tree.name.padEnd(16)} median ${s.median.toFixed(0).padStart(5)} ms  (${s.min.toFixed(0)}-${s.max.toFixed(0)})`,
    );
  }
}
console.log(
  `load average after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
