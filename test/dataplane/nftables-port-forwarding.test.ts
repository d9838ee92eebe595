import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forwardingElements, socketCompensation } from '../../src/dataplane/nftables/port-forwarding.js';
import { chainsFor, renderFull, structureSignature } from '../../src/dataplane/nftables/render.js';
import type { DesiredRouter, ForwardingRule } from '../../src/dataplane/types.js';
import { parseIPv4 } from '../../src/model/index.js';

const ip = parseIPv4;
const base: DesiredRouter = {
  routerId: '6c6dc72e-c74a-4386-989b-f048b1d408e6',
  namespace: 'qrouter-1',
  gatewayDevice: 'qg-r1',
  gatewayIp: ip('203.0.113.2'),
  internalCidrs: ['10.0.0.0/24'],
  mappings: [{ floatingIp: ip('203.0.113.10'), fixedIp: ip('10.0.0.11') }],
};
const rule = (r: Partial<ForwardingRule>): ForwardingRule => ({
  floatingIp: ip('203.0.113.20'),
  protocol: 'tcp',
  fixedIp: ip('10.0.0.12'),
  externalPortStart: 2222,
  externalPortEnd: 2222,
  internalPortStart: 22,
  internalPortEnd: 22,
  ...r,
});

describe('nftables port forwarding rendering', () => {
  it('expands N:N port by port and N:1 to one internal port, replies leaving from the first external port', () => {
    const nn = forwardingElements([
      rule({
        protocol: 'udp',
        externalPortStart: 8000,
        externalPortEnd: 8002,
        internalPortStart: 9000,
        internalPortEnd: 9002,
      }),
    ]);
    assert.deepEqual(nn.get('pf_in_addr'), [
      '203.0.113.20 . udp . 8000 : 10.0.0.12',
      '203.0.113.20 . udp . 8001 : 10.0.0.12',
      '203.0.113.20 . udp . 8002 : 10.0.0.12',
    ]);
    assert.deepEqual(nn.get('pf_in_port'), [
      '10.0.0.12 . udp . 8000 : 9000',
      '10.0.0.12 . udp . 8001 : 9001',
      '10.0.0.12 . udp . 8002 : 9002',
    ]);
    assert.deepEqual(nn.get('pf_out_port'), [
      '10.0.0.12 . udp . 9000 : 8000',
      '10.0.0.12 . udp . 9001 : 8001',
      '10.0.0.12 . udp . 9002 : 8002',
    ]);
    const n1 = forwardingElements([
      rule({
        externalPortStart: 7200,
        externalPortEnd: 7202,
        internalPortStart: 5001,
        internalPortEnd: 5001,
      }),
    ]);
    assert.deepEqual(n1.get('pf_in_port'), [
      '10.0.0.12 . tcp . 7200 : 5001',
      '10.0.0.12 . tcp . 7201 : 5001',
      '10.0.0.12 . tcp . 7202 : 5001',
    ]);
    assert.deepEqual(n1.get('pf_out_port'), ['10.0.0.12 . tcp . 5001 : 7200']);
    assert.deepEqual(n1.get('pf_dnat'), [
      '203.0.113.20 . tcp . 7200 : 10.0.0.12 . 5001',
      '203.0.113.20 . tcp . 7201 : 10.0.0.12 . 5001',
      '203.0.113.20 . tcp . 7202 : 10.0.0.12 . 5001',
    ]);
  });

  it('adds nothing without forwardings, and maps, rules and elements with them', () => {
    const plain = renderFull(base);
    assert.doesNotMatch(plain, /pf_/);
    const withPf = renderFull({ ...base, forwardings: [rule({})] });
    for (const map of ['pf_in_addr', 'pf_in_port', 'pf_out_port', 'pf_out_addr', 'pf_dnat']) {
      assert.match(withPf, new RegExp(`map ${map} \\{ typeof `));
      assert.match(withPf, new RegExp(`add element ip \\S+ ${map} \\{ `));
    }
    assert.match(
      withPf,
      /meta l4proto tcp ip daddr set ip daddr \. meta l4proto \. th dport map @pf_in_addr tcp dport set/,
    );
    assert.match(
      withPf,
      /oifname "qg-r1" meta l4proto udp udp sport set ip saddr \. meta l4proto \. th sport map @pf_out_port ip saddr set/,
    );
  });

  it('a forwarding change changes the structure signature (so the table is rebuilt in one transaction)', () => {
    const a = structureSignature(chainsFor({ ...base, forwardings: [rule({})] }));
    const b = structureSignature(
      chainsFor({ ...base, forwardings: [rule({ externalPortStart: 2223, externalPortEnd: 2223 })] }),
    );
    const same = structureSignature(chainsFor({ ...base, forwardings: [rule({})] }));
    assert.notDeepEqual(a, b);
    assert.deepEqual(a, same);
  });
});

describe('quoted-header compensation for forwarded sockets', () => {
  /** The one's complement sum of 16-bit words, as the ICMP checksum covers them. */
  const sum = (words: number[]) => {
    let s = words.reduce((a, b) => a + b, 0);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    return s;
  };
  const words = (ip: string, port: number, extra: number) => {
    const n = ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
    return [Math.floor(n / 0x10000), n & 0xffff, port, extra, 0x1234];
  };
  it('keeps the checksum of a message whose quoted address and port change, when written where a zero was', () => {
    for (const [from, fromPort, to, toPort] of [
      ['10.0.0.12', 22, '203.0.113.20', 2222],
      ['203.0.113.20', 8000, '10.0.0.12', 9000],
      ['255.255.255.255', 65535, '0.0.0.1', 1],
    ] as const) {
      const before = sum(words(from, fromPort, 0));
      const after = sum(words(to, toPort, socketCompensation(from, fromPort, to, toPort)));
      // One's complement: 0x0000 and 0xffff are the same value.
      assert.equal(after % 0xffff, before % 0xffff, `${from}:${fromPort} -> ${to}:${toPort}`);
    }
  });
});
