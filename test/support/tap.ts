/** The results in node's TAP output, flattened: one entry per test, named by its path of suites. */
export interface TapResult {
  readonly name: string;
  readonly ok: boolean;
  readonly skipped: boolean;
  /** The YAML diagnostics block under a failed result. */
  readonly detail: string;
}

export function parseTap(text: string): TapResult[] {
  const lines = text.split('\n');
  const results: TapResult[] = [];
  const path: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const subtest = /^( *)# Subtest: (.*)$/.exec(line);
    if (subtest) {
      const depth = subtest[1]!.length / 4;
      path.length = depth;
      path[depth] = subtest[2]!;
      continue;
    }
    const result = /^( *)(not ok|ok) \d+ - (.*?)(?: # (SKIP|TODO).*)?$/.exec(line);
    if (!result) continue;
    const depth = result[1]!.length / 4;
    const detail: string[] = [];
    if (lines[i + 1]?.trim() === '---') {
      for (i += 2; i < lines.length && lines[i]!.trim() !== '...'; i++) detail.push(lines[i]!.trim());
    }
    // A suite's own line comes after its tests; only leaves (and failed suites, whose hooks failed) are reported.
    const isSuite = detail.some((d) => d === "type: 'suite'");
    const name = [...path.slice(0, depth), result[3]!].join(' > ');
    if (!isSuite || result[2] === 'not ok') {
      results.push({
        name,
        ok: result[2] === 'ok',
        skipped: result[4] !== undefined,
        detail: detail.join('\n'),
      });
    }
    path.length = depth;
  }
  return results;
}
