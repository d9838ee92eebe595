import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { splitByInputDevice } from '../../src/dataplane/nftables/raw-split.js';
import { chainsFor } from '../../src/dataplane/nftables/render.js';
import type { DesiredRouter } from '../../src/dataplane/types.js';
import { parseIPv4 } from '../../src/model/index.js';

const desired: DesiredRouter = {
  routerId: '6c6dc72e-c74a-4386-989b-f048b1d408e6',
  namespace: 'qrouter-1',
  gatewayDevice: 'qg-r1',
  gatewayIp: parseIPv4('203.0.113.2'),
  internalCidrs: ['10.0.0.0/24'],
  mappings: [{ floatingIp: parseIPv4('203.0.113.10'), fixedIp: parseIPv4('10.0.0.11') }],
};

const rulesOf = (name: string, d: DesiredRouter = desired) =>
  chainsFor(d).find((c) => c.name === name)?.rules;

describe('nftables raw prerouting, split by input device', () => {
  it('keeps each rule on the side its device test allows, without the test, in order', () => {
    const split = splitByInputDevice(
      [
        'iifname "qg-r1" ip daddr 10.0.0.1 drop',
        'ip daddr @a',
        'iifname != "qg-r1" ip saddr @b drop',
        'ip daddr @c',
      ],
      '"qg-r1"',
    );
    assert.deepEqual(split.fromGateway, ['ip daddr 10.0.0.1 drop', 'ip daddr @a', 'ip daddr @c']);
    assert.deepEqual(split.fromInside, ['ip daddr @a', 'ip saddr @b drop', 'ip daddr @c']);
  });

  it('leaves a rule about another device on both sides', () => {
    const split = splitByInputDevice(['iifname "qg-r10" drop'], '"qg-r1"');
    assert.deepEqual(split.fromGateway, ['iifname "qg-r10" drop']);
    assert.deepEqual(split.fromInside, ['iifname "qg-r10" drop']);
  });

  it('sends the gateway to its chain first, and no device test is left in either list', () => {
    const base = rulesOf('raw_prerouting')!;
    assert.equal(base[0], 'iifname "qg-r1" goto raw_from_gateway');
    for (const rule of [...base.slice(1), ...rulesOf('raw_from_gateway')!])
      assert.doesNotMatch(rule, /iifname/, rule);
  });

  it('shortcuts a VM packet not addressed to a floating IP only without port forwardings', () => {
    const shortcut = 'meta l4proto != icmp ip daddr != @fips goto raw_not_floating';
    assert.ok(rulesOf('raw_prerouting')!.includes(shortcut));
    assert.deepEqual(rulesOf('raw_not_floating'), rulesOf('raw_prerouting')!.slice(-2));
    const withForwarding: DesiredRouter = {
      ...desired,
      forwardings: [
        {
          floatingIp: parseIPv4('203.0.113.20'),
          fixedIp: parseIPv4('10.0.0.11'),
          protocol: 'tcp',
          externalPortStart: 2222,
          externalPortEnd: 2222,
          internalPortStart: 22,
          internalPortEnd: 22,
        },
      ],
    };
    assert.ok(!rulesOf('raw_prerouting', withForwarding)!.includes(shortcut));
    assert.equal(rulesOf('raw_not_floating', withForwarding), undefined);
  });
});
