import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cidrContains,
  isReservedInCidr,
  parseCidr,
  parseDeviceName,
  parseIPv4,
  parseNamespaceName,
  SfipError,
} from '../../src/model/index.js';

describe('CIDR', () => {
  it('parses canonical prefixes', () => {
    assert.deepEqual(parseCidr('203.0.113.0/24'), { network: '203.0.113.0', prefixLength: 24 });
    assert.deepEqual(parseCidr('0.0.0.0/0'), { network: '0.0.0.0', prefixLength: 0 });
    assert.deepEqual(parseCidr('192.0.2.7/32'), { network: '192.0.2.7', prefixLength: 32 });
  });

  it('rejects bad prefixes, naming the value', () => {
    for (const bad of [
      '1.2.3.4/33',
      '1.2.3.0/024',
      '1.2.3.0',
      '1.2.3.0/',
      '127.1/8',
      '010.0.0.0/8',
      '1.2.3.0/-1',
      'x/24',
    ]) {
      assert.throws(
        () => parseCidr(bad),
        (e: unknown) => e instanceof SfipError && e.message.includes(`'${bad}'`),
        bad,
      );
    }
  });

  it('rejects host bits and suggests the network', () => {
    assert.throws(() => parseCidr('203.0.113.5/24'), /did you mean 203\.0\.113\.0\/24/);
  });

  it('knows containment and reserved addresses', () => {
    const c = parseCidr('203.0.113.0/24');
    assert.equal(cidrContains(c, parseIPv4('203.0.113.77')), true);
    assert.equal(cidrContains(c, parseIPv4('203.0.114.1')), false);
    assert.equal(isReservedInCidr(c, parseIPv4('203.0.113.0')), true);
    assert.equal(isReservedInCidr(c, parseIPv4('203.0.113.255')), true);
    assert.equal(isReservedInCidr(c, parseIPv4('203.0.113.1')), false);
    assert.equal(
      isReservedInCidr(parseCidr('192.0.2.0/31'), parseIPv4('192.0.2.0')),
      false,
      '/31 has no reserved addresses',
    );
  });
});

describe('device and namespace names', () => {
  it('accepts real names', () => {
    for (const ok of ['qg-1a2b3c4d-5e', 'eth0', 'br-int', 'veth_1.100'])
      assert.equal(parseDeviceName(ok), ok);
    for (const ok of ['qrouter-6c6dc72e-c74a-4386-989b-f048b1d408e6', 'sfip-r1'])
      assert.equal(parseNamespaceName(ok), ok);
  });

  it('rejects overlong names and anything a shell or a path could misread', () => {
    const devices = [
      '',
      'a'.repeat(16),
      'qg;reboot',
      'qg$(id)',
      'q g',
      '-qg',
      '.',
      '..',
      'qg/x',
      'qg`id`',
      'qg|x',
      'qg&x',
      'ég0',
      'qg\n1',
    ];
    for (const bad of devices) {
      assert.throws(
        () => parseDeviceName(bad),
        (e: unknown) => e instanceof SfipError && e.status === 400,
        JSON.stringify(bad),
      );
    }
    const namespaces = [
      '',
      'a'.repeat(65),
      '../etc',
      'ns;rm -rf',
      '-n',
      '.hidden',
      'a/b',
      'ns$HOME',
      'ns\u0000',
    ];
    for (const bad of namespaces) {
      assert.throws(
        () => parseNamespaceName(bad),
        (e: unknown) => e instanceof SfipError && e.message.includes('namespace'),
        JSON.stringify(bad),
      );
    }
  });
});
