import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mergeMarkedSections } from '../../bench/report/marked-sections.js';

describe('benchmarks document marked sections', () => {
  const generated =
    '# Benchmarks\n\nnew table\n\n<!-- api-bench:start -->\n<!-- api-bench:end -->\n\nfooter\n';

  it('keeps another tool’s section in its placeholder, verbatim', () => {
    const previous =
      '# old\n\nold table\n\n<!-- api-bench:start -->\n## API\n| p99 | 3 ms |\n<!-- api-bench:end -->\n';
    const merged = mergeMarkedSections(generated, previous);
    assert.equal(
      merged,
      '# Benchmarks\n\nnew table\n\n<!-- api-bench:start -->\n## API\n| p99 | 3 ms |\n<!-- api-bench:end -->\n\nfooter\n',
    );
  });

  it('appends a section the template has no place for, instead of dropping it', () => {
    const merged = mergeMarkedSections(generated, 'x\n<!-- other:start -->\nkeep me\n<!-- other:end -->\n');
    assert.match(merged, /footer\n\n<!-- other:start -->\nkeep me\n<!-- other:end -->\n$/);
    assert.match(merged, /<!-- api-bench:start -->\n<!-- api-bench:end -->/);
  });

  it('leaves the template alone when there was no previous document', () => {
    assert.equal(mergeMarkedSections(generated, ''), generated);
  });
});
