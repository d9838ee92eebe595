import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchResults } from '../results.js';
import { writeCharts } from './charts.js';
import { renderDocument } from './document.js';
import { mergeMarkedSections } from './marked-sections.js';

export function readResults(outDir: string): BenchResults {
  return JSON.parse(readFileSync(join(outDir, 'benchmarks', 'results.json'), 'utf8')) as BenchResults;
}

/** results.json, the plots, and benchmarks.md with other tools' marked sections carried over. */
export async function writeReport(results: BenchResults, outDir: string): Promise<void> {
  const dir = join(outDir, 'benchmarks');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'results.json'), JSON.stringify(results, null, 1) + '\n');
  const plots = await writeCharts(results, dir);
  const docPath = join(outDir, 'benchmarks.md');
  const previous = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '';
  writeFileSync(docPath, mergeMarkedSections(renderDocument(results, plots), previous));
}
