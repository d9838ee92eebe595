/**
 * `sfip doctor` asks every backend's own check(), so it can never disagree with an agent about a backend; and a
 * router can never ask for the fake dataplane, which exists only for tests.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeDataplane } from '../../src/dataplane/index.js';
import type { CapabilityCheck, CheckOptions } from '../../src/dataplane/types.js';
import { doctor, usableBackends } from '../../src/doctor/doctor.js';
import type { Runner } from '../../src/exec/run.js';
import { parseBackendName, parseDaemonBackend } from '../../src/model/index.js';

const tools: Runner = async () => ({ stdout: 'tool 1.0', stderr: '', code: 0 });

/** A backend whose check says what the test wants, and records how it was asked. */
class CheckedBackend extends FakeDataplane {
  asked: CheckOptions[] = [];
  constructor(private readonly lines: CapabilityCheck[]) {
    super();
  }
  override async check(options: CheckOptions = {}): Promise<CapabilityCheck[]> {
    this.asked.push(options);
    return this.lines;
  }
}

describe('sfip doctor', () => {
  it('reports each backend by its own check(), with probes, and calls a backend with a failed check unusable', async () => {
    const good = new CheckedBackend([{ name: 'thing', ok: true, detail: 'works' }]);
    const bad = new CheckedBackend([
      { name: 'thing', ok: true, detail: 'works' },
      { name: 'act_nat', ok: false, detail: 'this kernel has no act_nat' },
    ]);
    Object.defineProperty(bad, 'name', { value: 'tc' });
    const lines = await doctor(tools, [good, bad]);
    assert.deepEqual(good.asked, [{ probe: true }]);
    const tcLines = lines.filter((l) => l.area === 'tc');
    assert.deepEqual(
      tcLines.map((l) => [l.check, l.ok, l.detail]),
      [
        ['thing', true, 'works'],
        ['act_nat', false, 'this kernel has no act_nat'],
      ],
    );
    assert.deepEqual(usableBackends(lines), ['fake']);
  });

  it('calls nothing usable when a general line fails (the router layer needs ip for every backend)', async () => {
    const noIp: Runner = async (file) => {
      if (file === 'ip') throw new Error('ip failed (exit 127): not found');
      return { stdout: 'tool 1.0', stderr: '', code: 0 };
    };
    const lines = await doctor(noIp, [new CheckedBackend([{ name: 'thing', ok: true, detail: 'works' }])]);
    assert.equal(lines.find((l) => l.area === 'general' && l.check === 'ip')?.ok, false);
    assert.deepEqual(usableBackends(lines), []);
  });
});

describe('the fake dataplane is for tests only', () => {
  it('is refused as a router backend, naming the value and what is allowed', () => {
    assert.throws(
      () => parseBackendName('fake'),
      /'fake' is not a dataplane backend: expected one of nftables, tc, ebpf, iptables/,
    );
    assert.equal(parseBackendName('ebpf'), 'ebpf');
  });

  it('can still run a test daemon', () => {
    assert.equal(parseDaemonBackend('fake'), 'fake');
    assert.throws(() => parseDaemonBackend('nft'), /'nft' is not a dataplane backend/);
  });
});
