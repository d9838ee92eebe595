import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Replaces this tool's marked section (`<!-- NAME:start -->` ... `<!-- NAME:end -->`) in a generated document,
 * or appends it, leaving everything else as it was. The benchmark report keeps such sections verbatim when it
 * regenerates the rest (bench/report/marked-sections.ts).
 */
export function writeMarkedSection(docPath: string, name: string, body: string): void {
  const block = `<!-- ${name}:start -->\n${body.trim()}\n<!-- ${name}:end -->`;
  const previous = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '# Benchmarks\n';
  const pattern = new RegExp(`<!-- ${name}:start -->[\\s\\S]*?<!-- ${name}:end -->`);
  const next = pattern.test(previous)
    ? previous.replace(pattern, () => block)
    : `${previous.trimEnd()}\n\n${block}\n`;
  mkdirSync(dirname(docPath), { recursive: true });
  writeFileSync(docPath, next);
}
