import { writeMarkedSection } from '../report/write-section.js';

export const BENCHMARKS_DOC = 'docs/benchmarks.md';

export interface BenchRow {
  readonly scenario: string;
  readonly connections: number;
  readonly requestsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly ok: number;
  readonly failed: number;
  /** Server CPU (user + system) per request: what a request costs regardless of how busy the machine is. */
  readonly cpuMs: number;
}

export interface BenchContext {
  readonly command: string;
  readonly machine: string;
  readonly listSize: number;
  readonly duration: number;
}

function goalLines(rows: readonly BenchRow[], context: BenchContext): string[] {
  const create = rows.find((r) => r.scenario.startsWith('create') && r.connections === 32);
  const lists = rows.filter((r) => r.scenario.includes('first page'));
  const mark = (met: boolean) => (met ? 'met' : '**not met**');
  const out: string[] = [];
  if (create) {
    out.push(
      `- At least 1,000 creates/s with p99 at most 50 ms at 32 connections: ${create.requestsPerSecond}/s ` +
        `(${mark(create.requestsPerSecond >= 1000)}), p99 ${create.p99} ms (${mark(create.p99 <= 50)}).`,
    );
  }
  for (const r of lists) {
    out.push(
      `- List of ${context.listSize} with limit=100, p99 at most 20 ms, at ${r.connections} connection(s): ` +
        `p99 ${r.p99} ms (${mark(r.p99 <= 20)}).`,
    );
  }
  return out;
}

function render(rows: readonly BenchRow[], context: BenchContext): string {
  const table = [
    '| scenario | connections | requests/s | p50 ms | p99 ms | 2xx | failed | server CPU ms/request |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.scenario} | ${r.connections} | ${r.requestsPerSecond} | ${r.p50} | ${r.p99} | ${r.ok} | ${r.failed} | ${r.cpuMs} |`,
    ),
  ];
  const list = rows.find((r) => r.scenario.includes('first page'));
  return [
    '## API: floating-IP create, list and show',
    '',
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC with autocannon (in the benchmark process)`,
    'against `sfip serve --no-agent` from dist/ in its own process: SQLite store, token auth with the admin token,',
    `request logging on, ${context.duration} s per scenario, ${context.listSize} floating IPs for the list and show`,
    `scenarios. Machine: ${context.machine}.`,
    '',
    ...table,
    '',
    'Goals (issue 3):',
    '',
    ...goalLines(rows, context),
    '',
    'Reading the numbers: the server is one Node event loop, so with N connections kept busy a request waits behind',
    'the others and p99 is roughly N × (server CPU per request) even on an idle core, plus whatever the scheduler',
    `takes away on a shared machine.${list ? ` A page of 100 costs ${list.cpuMs} ms of server CPU, so 32 connections sit near ${Math.round(list.cpuMs * 32)} ms by construction; 1 connection shows the request itself.` : ''}`,
    'Creates run in group commits (one SQLite transaction per event-loop turn, a savepoint each), WAL checkpoints run',
    'on a worker thread, and ids are time-ordered UUIDs, so inserts append to the indexes. Lists in id order read',
    'one page through the store index and stop, so the page size, not the number of floating IPs, sets their cost.',
    '',
    `Command: \`${context.command}\` (it rewrites only this section, between the api-bench markers).`,
  ].join('\n');
}

/** Replaces this benchmark's section of docs/benchmarks.md (api-bench markers), or appends it; the rest is left alone. */
export function writeSection(rows: readonly BenchRow[], context: BenchContext, path = BENCHMARKS_DOC): void {
  writeMarkedSection(path, 'api-bench', render(rows, context));
  console.log(`wrote ${path}`);
}
