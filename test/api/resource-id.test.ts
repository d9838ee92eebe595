import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newResourceId } from '../../src/api/resource-id.js';

describe('resource ids', () => {
  it('are version 7 UUIDs that Neutron clients accept', () => {
    const id = newResourceId();
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('grow strictly in creation order, also many within one millisecond, and never repeat', () => {
    const ids = Array.from({ length: 10_000 }, () => newResourceId());
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} !< ${ids[i]}`);
    const burst = Array.from({ length: 5_000 }, () => newResourceId(1_800_000_000_000));
    for (let i = 1; i < burst.length; i++) assert.ok(burst[i - 1]! < burst[i]!);
    assert.equal(new Set([...ids, ...burst]).size, ids.length + burst.length);
  });

  it('carry their creation time in the first 48 bits', () => {
    const ms = Date.UTC(2030, 0, 1);
    const id = newResourceId(ms);
    assert.equal(parseInt(id.replace(/-/g, '').slice(0, 12), 16), ms);
  });
});
