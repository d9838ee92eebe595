import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** This benchmark owns only the text between these markers; other benchmarks write other sections. */
const START = '<!-- api-bench:start -->';
const END = '<!-- api-bench:end -->';
export const BENCHMARKS_DOC = 'docs/benchmarks.md';

export interface BenchRow {
  readonly scenario: string;
  readonly connections: number;
  readonly requestsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly ok: number;
  readonly failed: number;
  readonly cpuMs: number;
}

export interface BenchContext {
  readonly command: string;
  readonly machine: string;
  readonly listSize: number;
  readonly duration: number;
}

function render(rows: readonly BenchRow[], context: BenchContext): string {
  const table = [
    '| scenario | connections | requests/s | p50 ms | p99 ms | 2xx | failed |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.scenario} | ${r.connections} | ${r.requestsPerSecond} | ${r.p50} | ${r.p99} | ${r.ok} | ${r.failed} |`,
    ),
  ];
  return [
    START,
    '## API: floating-IP create, list and show',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} with autocannon against \`sfip serve --no-agent\` (SQLite store,`,
    'token auth with the admin token, request logging on, server in its own process), ' +
      `${context.duration} s per scenario. Machine: ${context.machine}.`,
    '',
    ...table,
    '',
    `Goals (issue 3): at least 1,000 creates/s with p99 at most 50 ms at 32 connections; a list of ${context.listSize}`,
    'floating IPs with limit=100 at p99 at most 20 ms. Lists in id order read the store through its index and stop',
    'after one page, so the page size, not the number of floating IPs, sets their cost.',
    '',
    `Command: \`${context.command}\` (it rewrites this section).`,
    END,
  ].join('\n');
}

/** Replaces this benchmark's section of docs/benchmarks.md, or appends it; the rest of the file is left alone. */
export function writeSection(rows: readonly BenchRow[], context: BenchContext, path = BENCHMARKS_DOC): void {
  const section = render(rows, context);
  const current = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  const start = current.indexOf(START);
  const end = current.indexOf(END);
  const next =
    start >= 0 && end > start
      ? `${current.slice(0, start)}${section}${current.slice(end + END.length)}`
      : `${current.trimEnd()}\n\n${section}\n`;
  writeFileSync(path, next);
  console.log(`wrote ${path}`);
}
