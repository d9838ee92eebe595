import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  IptablesDataplane,
  chainName,
  ownedRouterIds,
  parseIptablesSave,
  renderDelta,
  renderFull,
  renderRemove,
  routerState,
  type JumpRule,
} from '../../src/dataplane/iptables/index.js';
import type { DesiredRouter } from '../../src/dataplane/types.js';
import { parseIPv4 } from '../../src/model/index.js';
import { assertGolden } from '../support/golden.js';

const ROUTER = '3f2a9c1e-7b4d-4e8a-9c6f-1a2b3c4d5e6f';
const map = (floating: string, fixed: string) => ({
  floatingIp: parseIPv4(floating),
  fixedIp: parseIPv4(fixed),
});
const desired = (
  mappings = [map('203.0.113.10', '10.0.0.11'), map('203.0.113.11', '10.0.0.12')],
): DesiredRouter => ({
  routerId: ROUTER,
  namespace: 'tk-unit',
  gatewayDevice: 'qg-r1',
  gatewayIp: parseIPv4('203.0.113.2'),
  internalCidrs: ['10.0.0.0/24'],
  mappings,
});
/** Captured from iptables-nft-save after applying renderFull(desired()) next to a foreign MASQUERADE rule. */
const SAVED = readFileSync(new URL('../fixtures/iptables-save-two-fips.txt', import.meta.url), 'utf8');
const saved = () => parseIptablesSave(SAVED);

describe('iptables render', () => {
  it("renders Neutron's rules in owned chains, float-snat before shared SNAT", () => {
    const text = renderFull(desired(), []);
    assertGolden('iptables/full-two-fips.txt', text);
    const snat = text.split('\n').filter((l) => l.startsWith(`-A ${chainName(ROUTER, 'snat')} `));
    assert.match(snat[0]!, /-j sfip-3f2a9c1e7b-float-snat$/);
    assert.match(snat[1]!, /-o qg-r1 -j SNAT --to-source 203\.0\.113\.2$/);
  });

  it('leaves jump rules alone when they are right, and replaces wrong ones found by their comment', () => {
    const right = routerState(saved(), ROUTER, desired()).jumps;
    assert.equal(right.length, 5);
    assert.doesNotMatch(renderFull(desired(), right), /^-[AD] (PREROUTING|OUTPUT|POSTROUTING) /m);
    const duplicated: JumpRule[] = [...right, right[1]!];
    assertGolden('iptables/full-replacing-jumps.txt', renderFull(desired(), duplicated));
  });

  it('patches only the floating IPs that changed: add, remove, move', () => {
    const state = routerState(saved(), ROUTER, desired());
    const next = desired([map('203.0.113.10', '10.0.0.13'), map('203.0.113.12', '10.0.0.14')]);
    const delta = renderDelta(next, state.inbound, state.outbound);
    assertGolden('iptables/delta-add-remove-move.txt', delta.text!);
    assert.deepEqual(
      delta.removed.map((m) => m.floatingIp),
      ['203.0.113.10', '203.0.113.11'],
    );
    assert.deepEqual(
      delta.added.map((m) => m.floatingIp),
      ['203.0.113.10', '203.0.113.12'],
    );
    assert.equal(renderDelta(desired(), state.inbound, state.outbound).text, null);
  });

  it('removes jumps and chains of one router only', () => {
    const state = routerState(saved(), ROUTER);
    const text = renderRemove(ROUTER, state.jumps);
    assertGolden('iptables/remove.txt', text);
    assert.doesNotMatch(text, /MASQUERADE/);
  });

  it('rejects a router id it cannot name chains after, naming it', () => {
    assert.throws(() => renderFull({ ...desired(), routerId: 'r1; -F' }, []), /'r1; -F'/);
  });
});

describe('iptables read-back', () => {
  it('reads mappings from what iptables-save printed, and finds the structure unchanged', () => {
    const state = routerState(saved(), ROUTER, desired());
    assert.equal(state.present, true);
    assert.equal(state.structureMatches, true);
    assert.deepEqual(
      [...state.inbound],
      [
        ['203.0.113.10', '10.0.0.11'],
        ['203.0.113.11', '10.0.0.12'],
      ],
    );
    assert.deepEqual([...state.outbound].sort(), [
      ['10.0.0.11', '203.0.113.10'],
      ['10.0.0.12', '203.0.113.11'],
    ]);
    const plan = new IptablesDataplane().plan(desired(), state);
    assert.equal(plan.batch, null);
    assert.equal(plan.rebuild, false);
  });

  it('finds the routers it owns by their jump comments', () => {
    assert.deepEqual(ownedRouterIds(saved()), [ROUTER]);
    assert.deepEqual(ownedRouterIds(parseIptablesSave('*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n')), []);
  });

  it('sees drift: a foreign rule in an owned chain, a changed gateway, a broken DNAT rule, a missing jump', () => {
    const drifted = (edit: (text: string) => string) =>
      routerState(parseIptablesSave(edit(SAVED)), ROUTER, desired());
    const extra = drifted((t) =>
      t.replace(
        /(-A sfip-3f2a9c1e7b-snat -j sfip-3f2a9c1e7b-float-snat\n)/,
        '$1-A sfip-3f2a9c1e7b-snat -j ACCEPT\n',
      ),
    );
    assert.equal(extra.structureMatches, false);
    assert.equal(
      drifted((t) => t.replaceAll('--to-source 203.0.113.2', '--to-source 203.0.113.3')).structureMatches,
      false,
    );
    const broken = drifted((t) =>
      t.replace(
        '-A sfip-3f2a9c1e7b-PREROUTING -d 203.0.113.11/32',
        '-A sfip-3f2a9c1e7b-PREROUTING -p tcp -d 203.0.113.11/32',
      ),
    );
    assert.equal(broken.structureMatches, false);
    const noJump = drifted((t) =>
      t.replace(/-A OUTPUT -m comment --comment "sfip router [^"]+" -j sfip-3f2a9c1e7b-OUTPUT\n/, ''),
    );
    assert.equal(noJump.structureMatches, false);
    const plan = new IptablesDataplane().plan(desired(), noJump);
    assert.equal(plan.rebuild, true);
    assert.match(
      plan.batch!,
      /^-A OUTPUT -m comment --comment "sfip router 3f2a9c1e-7b4d-4e8a-9c6f-1a2b3c4d5e6f" -j sfip-3f2a9c1e7b-OUTPUT$/m,
    );
  });

  it('rewrites whole chains instead of deleting many rules one by one', () => {
    const state = routerState(saved(), ROUTER, desired());
    const patch = new IptablesDataplane(undefined, { maxDeletes: 10 }).plan(desired([]), state);
    assert.equal(patch.rebuild, false);
    const rewrite = new IptablesDataplane(undefined, { maxDeletes: 2 }).plan(desired([]), state);
    assert.equal(rewrite.rebuild, true);
    assert.equal(rewrite.removed.length, 2);
  });

  it('refuses a line it does not understand, quoting it', () => {
    assert.throws(
      () => parseIptablesSave('*nat\n-I PREROUTING -j ACCEPT\nCOMMIT\n'),
      /"-I PREROUTING -j ACCEPT"/,
    );
  });
});
