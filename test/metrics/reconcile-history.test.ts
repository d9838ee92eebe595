import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ReconcileOutcome } from '../../src/agent/index.js';
import { kindOf, ReconcileHistory } from '../../src/metrics/index.js';

const outcome = (fields: Partial<ReconcileOutcome>): ReconcileOutcome => ({
  routerId: 'r1',
  cause: 'floatingip-changed',
  durationMs: 3,
  changed: true,
  rebuilt: false,
  drifted: false,
  added: 1,
  removed: 0,
  conntrackDeleted: 0,
  ...fields,
});

describe('reconcile history', () => {
  it('classifies passes: applied, drift repaired (a resync that changed the kernel), error, unchanged', () => {
    assert.equal(kindOf(outcome({})), 'applied');
    assert.equal(kindOf(outcome({ cause: 'resync', drifted: true })), 'drift-repaired');
    assert.equal(kindOf(outcome({ cause: 'resync' })), 'applied', 'a resync that only applied new changes');
    assert.equal(kindOf(outcome({ cause: 'resync', changed: false })), 'unchanged');
    assert.equal(kindOf(outcome({ error: 'nft failed' })), 'error');
  });

  it('keeps totals, the last success across a failure, and only notable events, newest first', () => {
    let now = 1000;
    const history = new ReconcileHistory({ keep: 3, now: () => now });
    history.record(outcome({}));
    now = 2000;
    history.record(outcome({ error: 'boom' }));
    now = 3000;
    history.record(outcome({ cause: 'resync', changed: false }));
    for (let i = 0; i < 3; i++) history.record(outcome({ cause: 'resync', added: i, drifted: true }));
    const r1 = history.router('r1')!;
    assert.deepEqual([r1.passes, r1.errors, r1.driftRepairs, r1.lastSuccessAt], [6, 1, 3, 3000]);
    assert.deepEqual(
      history.events().map((e) => [e.kind, e.added]),
      [
        ['drift-repaired', 2],
        ['drift-repaired', 1],
        ['drift-repaired', 0],
      ],
    );
  });

  it('names the routers that have not been reconciled yet (readiness)', () => {
    const history = new ReconcileHistory();
    history.record(outcome({ routerId: 'a', error: 'namespace missing' }));
    assert.deepEqual(history.notYetReconciled(['a', 'b']), ['b']);
    assert.equal(history.router('a')!.lastSuccessAt, null);
  });
});
