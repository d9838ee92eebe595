import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ipv4FromUint32,
  ipv4ToUint32,
  isIPv4,
  parseIPv4,
  SfipError,
  sharedIPv4s,
  sortByIPv4,
  type IPv4,
} from '../../src/model/index.js';

describe('IPv4', () => {
  it('accepts canonical dotted-quad', () => {
    for (const ok of ['0.0.0.0', '10.0.0.1', '203.0.113.255', '255.255.255.255'])
      assert.equal(parseIPv4(ok), ok);
  });

  it('rejects the forms inet_aton would accept, and anything else, naming the value', () => {
    const bad = [
      '127.1',
      '010.0.0.1',
      '0x7f.0.0.1',
      '1.2.3.4/33',
      '1.2.3.4/32',
      '256.1.1.1',
      '1.2.3',
      '1.2.3.4.5',
    ];
    bad.push(
      '1.2.3.1000',
      '0.0.0.00',
      '1.2.3.4.',
      ' 1.2.3.4',
      '1.2.3.4 ',
      '',
      '1..2.3',
      '+1.2.3.4',
      '1.2.3.-4',
      '١.٢.٣.٤',
      '1.2.3.4\n',
    );
    for (const text of bad) {
      assert.equal(isIPv4(text), false, text);
      assert.throws(
        () => parseIPv4(text, 'floating_ip_address'),
        (e: unknown) =>
          e instanceof SfipError &&
          e.status === 400 &&
          e.message.includes(`'${text}'`) &&
          e.message.includes('floating_ip_address'),
      );
    }
  });

  it('rejects non-strings', () => {
    for (const bad of [null, undefined, 167772161, {}, ['1.2.3.4']])
      assert.throws(() => parseIPv4(bad), SfipError);
  });

  it('converts to and from uint32 without sign trouble', () => {
    assert.equal(ipv4ToUint32(parseIPv4('255.255.255.255')), 0xffffffff);
    assert.equal(ipv4ToUint32(parseIPv4('128.0.0.1')), 0x80000001);
    assert.equal(ipv4FromUint32(0x80000001), '128.0.0.1');
    assert.equal(ipv4FromUint32(ipv4ToUint32(parseIPv4('203.0.113.7'))), '203.0.113.7');
    assert.throws(() => ipv4FromUint32(2 ** 32), RangeError);
  });

  it('sorts by address numerically, not as text, keeping equal addresses in their order', () => {
    const items = ['10.0.0.10', '9.255.255.255', '203.0.113.2', '10.0.0.9', '10.0.0.10'].map((a, i) => ({
      a: parseIPv4(a),
      i,
    }));
    assert.deepEqual(
      sortByIPv4(items, (x) => x.a).map((x) => `${x.a}#${x.i}`),
      ['9.255.255.255#1', '10.0.0.9#3', '10.0.0.10#0', '10.0.0.10#4', '203.0.113.2#2'],
    );
  });

  it('sorts text that is no address too, every item once, the addresses in order', () => {
    // A store written another way: text the numeric packing cannot hold takes the general way.
    const texts = ['10.0.0.2', `1${'.1'.repeat(200)}`, '10.0.0.1', '10.0.0.0:'];
    const sorted = sortByIPv4(texts as IPv4[], (x) => x);
    assert.deepEqual([...sorted].sort(), [...texts].sort());
    assert.ok(sorted.indexOf('10.0.0.1' as IPv4) < sorted.indexOf('10.0.0.2' as IPv4));
  });

  it('finds the addresses held more than once, comparing text that is no address as text', () => {
    assert.deepEqual(
      sharedIPv4s(['10.0.0.1', '10.0.0.2', '10.0.0.3'], (x) => x),
      new Set(),
    );
    assert.deepEqual(
      sharedIPv4s(['10.0.0.2', '255.255.255.255', '10.0.0.1', '255.255.255.255', '10.0.0.2'], (x) => x),
      new Set(['10.0.0.2', '255.255.255.255']),
    );
    // '10.0.0.0:' reads as 10.0.0.10 digit by digit: it must not count as a second holder of that address.
    assert.deepEqual(
      sharedIPv4s(['10.0.0.10', '10.0.0.0:', '010.0.0.10'], (x) => x),
      new Set(),
    );
    assert.deepEqual(
      sharedIPv4s(['x\n', '10.0.0.1', 'x\n'], (x) => x),
      new Set(['x\n']),
    );
  });
});
