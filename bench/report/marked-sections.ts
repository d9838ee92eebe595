/**
 * Sections other tools own inside a generated document, kept verbatim across regenerations:
 * `<!-- NAME:start -->` ... `<!-- NAME:end -->`.
 */
const SECTION = /<!-- ([a-z0-9-]+):start -->[\s\S]*?<!-- \1:end -->/g;

export function markedSections(text: string): Map<string, string> {
  return new Map([...text.matchAll(SECTION)].map((m) => [m[1]!, m[0]]));
}

/**
 * Puts the preserved sections into a freshly generated document: each replaces the empty placeholder of the same
 * name if the template has one, and is appended at the end otherwise. Nothing a section held is ever dropped.
 */
export function mergeMarkedSections(generated: string, previous: string): string {
  const kept = markedSections(previous);
  let out = generated;
  const placed = new Set<string>();
  out = out.replace(SECTION, (block, name: string) => {
    const old = kept.get(name);
    if (old === undefined) return block;
    placed.add(name);
    return old;
  });
  const rest = [...kept].filter(([name]) => !placed.has(name)).map(([, block]) => block);
  return rest.length ? `${out.trimEnd()}\n\n${rest.join('\n\n')}\n` : out;
}
