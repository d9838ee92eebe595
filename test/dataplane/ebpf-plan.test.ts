import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarise } from '../../src/dataplane/ebpf/bpftool.js';
import { checkBpffs, checkObject } from '../../src/dataplane/ebpf/checks.js';
import { EbpfDataplane } from '../../src/dataplane/ebpf/ebpf-backend.js';
import { possibleCpus } from '../../src/dataplane/ebpf/counters.js';
import { internalDevices } from '../../src/dataplane/ebpf/devices.js';
import { renderTable, routerIdOfTable, tableName } from '../../src/dataplane/ebpf/nft.js';
import { generationName, type BpfObject } from '../../src/dataplane/ebpf/object.js';
import { planEbpf, type PlanSettings } from '../../src/dataplane/ebpf/plan.js';
import {
  formatEbpfBatch,
  type EbpfActualRouter,
  type EbpfBatch,
  type GenerationState,
} from '../../src/dataplane/ebpf/state.js';
import { parseReadBatch } from '../../src/dataplane/ebpf/tc.js';
import {
  decodeConfig,
  encodeConfig,
  pfKeyBytes,
  pfKeyText,
  pfValueBytes,
  pfValueText,
  sumCounters,
} from '../../src/dataplane/ebpf/values.js';
import { forwardingEntries } from '../../src/dataplane/ebpf/forwarding.js';
import { fastPathSupport } from '../../src/dataplane/ebpf/fast-path.js';
import type { DesiredRouter, ForwardingRule } from '../../src/dataplane/types.js';
import { parseIPv4 } from '../../src/model/index.js';
import { assertGolden } from '../support/golden.js';
import { narrowedTo } from '../../src/dataplane/router-state.js';
import { config, emptyState, ids, object, programmedState } from '../support/ebpf-state.js';

const ip = parseIPv4;
const desired: DesiredRouter = {
  routerId: '6c6dc72e-c74a-4386-989b-f048b1d408e6',
  namespace: 'qrouter-1',
  gatewayDevice: 'qg-r1',
  gatewayIp: ip('203.0.113.2'),
  internalCidrs: ['10.0.0.0/24'],
  mappings: [
    { floatingIp: ip('203.0.113.10'), fixedIp: ip('10.0.0.11'), fixedMac: 'fa:16:3e:00:00:0b' },
    { floatingIp: ip('203.0.113.11'), fixedIp: ip('10.0.0.12'), fixedMac: 'fa:16:3e:00:00:0c' },
  ],
};
const settings: PlanSettings = {
  capacity: 4,
  minCapacity: 4,
  untrackMark: 0x10000000,
  hairpinMark: 0x20000000,
  routerDir: '/sys/fs/bpf/sfip/6c6dc72e-c74a-4386-989b-f048b1d408e6',
};
const generation = generationName(object, settings.capacity);
const programmed = (overrides: Partial<EbpfActualRouter['ebpf']> = {}, mappings = desired.mappings) =>
  programmedState(desired, settings, overrides, mappings);
const empty = emptyState;

const batchOf = (plan: { batch: string | null }) => JSON.parse(plan.batch!) as EbpfBatch;

describe('eBPF planning', () => {
  it('builds everything on an empty router: generation, every mapping, config, table, filters (golden)', () => {
    const plan = planEbpf(desired, empty(), settings);
    assert.equal(plan.rebuild, true);
    assert.deepEqual(plan.added, desired.mappings);
    const batch = batchOf(plan);
    assert.equal(batch.build, true);
    assert.equal(batch.generation, generation);
    assertGolden('ebpf-build-batch.txt', formatEbpfBatch(batch));
  });

  it('plans nothing when the kernel already carries the router (a restarted agent changes nothing)', () => {
    const plan = planEbpf(desired, programmed(), settings);
    assert.equal(plan.batch, null);
    assert.equal(plan.rebuild, false);
  });

  it('changes only map entries when a floating IP moves, and drops the moved address’s counters', () => {
    const moved: DesiredRouter = {
      ...desired,
      mappings: [desired.mappings[0]!, { floatingIp: ip('203.0.113.12'), fixedIp: ip('10.0.0.12') }],
    };
    const plan = planEbpf(moved, programmed(), settings);
    const batch = batchOf(plan);
    assert.equal(batch.build, false);
    assert.equal(batch.nft, null);
    assert.equal(batch.tc, null);
    assert.equal(batch.config, null);
    assert.deepEqual(batch.inbound, { remove: ['203.0.113.11'], set: [['203.0.113.12', '10.0.0.12']] });
    assert.deepEqual(batch.outbound, { remove: [], set: [['10.0.0.12', '203.0.113.12']] });
    assert.deepEqual(batch.removeCounters, ['203.0.113.11']);
    assert.deepEqual(plan.removed, [{ floatingIp: '203.0.113.11', fixedIp: '10.0.0.12' }]);
  });

  it('sets the entry of a floating IP mapped to another fixed IP, and reports the old mapping removed', () => {
    // As many entries wanted as held, with the same keys: only the value of one changes.
    const remapped: DesiredRouter = {
      ...desired,
      mappings: [desired.mappings[0]!, { floatingIp: ip('203.0.113.11'), fixedIp: ip('10.0.0.13') }],
    };
    const plan = planEbpf(remapped, programmed(), settings);
    const batch = batchOf(plan);
    assert.deepEqual(batch.inbound, { remove: [], set: [['203.0.113.11', '10.0.0.13']] });
    assert.deepEqual(batch.outbound, { remove: ['10.0.0.12'], set: [['10.0.0.13', '203.0.113.11']] });
    assert.deepEqual(plan.removed, [{ floatingIp: '203.0.113.11', fixedIp: '10.0.0.12' }]);
    assert.deepEqual(plan.added, [remapped.mappings[1]]);
  });

  it('plans a delta from its read narrowed to the changed addresses: only their entries change', () => {
    const gone = desired.mappings[1]!;
    const before = narrowedTo(
      { ...programmed(), addresses: new Set<string>() },
      { added: [], removed: [gone] },
    );
    const batch = batchOf(planEbpf({ ...desired, mappings: [] }, before, settings));
    assert.equal(batch.build, false);
    assert.equal(batch.nft, null);
    assert.equal(batch.tc, null);
    assert.deepEqual(batch.inbound, { remove: ['203.0.113.11'], set: [] });
    assert.deepEqual(batch.outbound, { remove: ['10.0.0.12'], set: [] });
    assert.deepEqual(batch.removeCounters, ['203.0.113.11']);
  });

  it('re-attaches only the hook whose program drifted', () => {
    const actual = programmed();
    const hooks = actual.ebpf.hooks.map((h) =>
      h.device === 'qg-r1'
        ? { ...h, attachments: h.attachments.filter((a) => a.direction !== 'ingress') }
        : h,
    );
    const batch = batchOf(planEbpf(desired, programmed({ hooks }), settings));
    assert.equal(batch.build, false);
    assert.equal(
      batch.tc,
      `filter replace dev qg-r1 ingress prio 24347 handle 1 bpf da object-pinned ${settings.routerDir}/${generation}/progs/gw_ingress\n`,
    );
  });

  it('detaches its filters from a device that is no longer internal, never anyone else’s', () => {
    const actual = programmed({ internalDevices: [] });
    const batch = batchOf(planEbpf(desired, actual, settings));
    assert.equal(
      batch.tc,
      'filter del dev qr-r1 ingress prio 24347 handle 1 bpf\nfilter del dev qr-r1 egress prio 24347 handle 1 bpf\n',
    );
  });

  it('rewrites the nft table alone when only the table drifted', () => {
    const batch = batchOf(planEbpf(desired, programmed({ nftSignature: [] }), settings));
    assert.equal(batch.build, false);
    assert.equal(batch.tc, null);
    assert.equal(batch.nft, renderTable(desired, settings));
  });

  it('builds a new generation beside the running one when the program changes, then drops the old one', () => {
    const newer: BpfObject = { path: object.path, digest: 'cd'.repeat(32) };
    const plan = planEbpf(desired, programmed({ object: newer }), settings);
    const batch = batchOf(plan);
    assert.equal(batch.build, true);
    assert.equal(batch.generation, generationName(newer, settings.capacity));
    assert.deepEqual(batch.dropGenerations, [generation]);
    assert.deepEqual(batch.inbound.set.length, 2, 'the new maps get every mapping');
    assert.match(batch.tc!, /filter replace dev qg-r1 ingress .*\/progs\/gw_ingress/);
    assert.doesNotMatch(batch.tc!, /qdisc add/, 'the existing clsact is kept');
    assert.deepEqual(plan.added, [], 'packets see the same mappings before and after');
  });

  it('rebuilds a generation that is incomplete (a program unpinned by hand)', () => {
    const gen: GenerationState = {
      name: generation,
      mapsMatch: true,
      capacity: settings.capacity,
      programIds: { gw_ingress: 11, gw_egress: 12, int_ingress: 13 },
      config,
    };
    const batch = batchOf(planEbpf(desired, programmed({ generations: [gen] }), settings));
    assert.equal(batch.build, true);
    assert.deepEqual(batch.dropGenerations, []);
  });

  it('rewrites the config when the gateway address changes', () => {
    const batch = batchOf(planEbpf({ ...desired, gatewayIp: ip('203.0.113.3') }, programmed(), settings));
    assert.deepEqual(batch.config, { ...config, gatewayIp: '203.0.113.3' });
    assert.notEqual(batch.nft, null, 'shared SNAT moves to the new address');
  });

  it('turns the fast path off for a router that asks, and where the kernel lacks its helpers', () => {
    const off = batchOf(planEbpf({ ...desired, fastPath: false }, programmed(), settings));
    assert.deepEqual(off.config, { ...config, fastPath: false });
    assert.equal(off.build, false, 'a flag in the config map, not a new generation');
    const unsupported = batchOf(planEbpf(desired, programmed({ fastPathAvailable: false }), settings));
    assert.deepEqual(unsupported.config, { ...config, fastPath: false });
  });

  it('rewrites the config when the gateway device is re-created (a new ifindex for outbound fast-path packets)', () => {
    const batch = batchOf(planEbpf(desired, programmed({ gatewayIfindex: 9 }), settings));
    assert.deepEqual(batch.config, { ...config, gatewayIfindex: 9 });
  });

  it('keeps peer_devs in step with the devices: a re-created device’s new ifindex in, the old one out', () => {
    const batch = batchOf(planEbpf(desired, programmed({ peerIfindexes: [7, 9] }), settings));
    assert.deepEqual(batch.peerDevices, { remove: [8], set: [9] });
    assert.equal(batch.build, false, 'map entries, not a new generation');
    assert.match(formatEbpfBatch(batch), /peer_devs delete 8\npeer_devs set 9\n/);
    // A device that stopped qualifying (its peer moved here, a qdisc was added) leaves the map: bpf_redirect.
    const none = batchOf(planEbpf(desired, programmed({ peerIfindexes: [] }), settings));
    assert.deepEqual(none.peerDevices, { remove: [7, 8], set: [] });
  });

  it('fills peer_devs of a new generation from the devices, and leaves it empty when the read knows none', () => {
    const built = batchOf(
      planEbpf(desired, { ...empty(), ebpf: { ...empty().ebpf, peerIfindexes: [7, 8] } }, settings),
    );
    assert.equal(built.build, true);
    assert.deepEqual(built.peerDevices, { remove: [], set: [7, 8] });
    assert.deepEqual(batchOf(planEbpf(desired, empty(), settings)).peerDevices, { remove: [], set: [] });
  });

  it('keeps anti-spoofing in step: a port’s new MAC, a new internal subnet, and switching it off', () => {
    const changed: DesiredRouter = {
      ...desired,
      internalCidrs: ['10.0.0.0/24', '10.1.0.0/24'],
      mappings: [{ ...desired.mappings[0]!, fixedMac: 'fa:16:3e:00:00:99' }, desired.mappings[1]!],
    };
    const actual = programmed();
    const batch = batchOf(planEbpf(changed, actual, settings));
    assert.deepEqual(batch.macs, { remove: [], set: [['10.0.0.11', 'fa:16:3e:00:00:99']] });
    assert.deepEqual(batch.internalNets, { remove: [], set: ['10.1.0.0/24'] });
    const off = batchOf(planEbpf({ ...desired, antiSpoofing: false }, programmed(), settings));
    assert.deepEqual(off.config, { ...config, antiSpoofing: false });
    assert.equal(off.build, false, 'switching it is a config write, not a rebuild');
  });

  it('refuses a floating IP that does not fit, naming it, before anything is written', () => {
    const many: DesiredRouter = {
      ...desired,
      mappings: [10, 11, 12, 13, 14].map((n) => ({
        floatingIp: ip(`203.0.113.${n}`),
        fixedIp: ip(`10.0.0.${n}`),
      })),
    };
    assert.throws(
      () => planEbpf(many, programmed(), settings),
      /Floating IP 203\.0\.113\.14 \(fixed IP 10\.0\.0\.14\) does not fit: the eBPF maps of router 6c6dc72e-c74a-4386-989b-f048b1d408e6 hold at most 4 floating IPs/,
    );
    assert.throws(() => planEbpf(many, empty(), settings), /Floating IP 203\.0\.113\.14 .*does not fit/);
    // Removing as many as are added fits, whatever the order.
    const swapped: DesiredRouter = {
      ...desired,
      mappings: [12, 13, 14, 15].map((n) => ({
        floatingIp: ip(`203.0.113.${n}`),
        fixedIp: ip(`10.0.0.${n}`),
      })),
    };
    assert.doesNotThrow(() => planEbpf(swapped, programmed(), settings));
  });
});

describe('eBPF port-forwarding maps', () => {
  const pf = (
    protocol: 'tcp' | 'udp',
    external: [number, number],
    fixedIp: string,
    internal: [number, number],
  ): ForwardingRule => ({
    floatingIp: ip('203.0.113.20'),
    protocol,
    fixedIp: ip(fixedIp),
    externalPortStart: external[0],
    externalPortEnd: external[1],
    internalPortStart: internal[0],
    internalPortEnd: internal[1],
  });
  const rules = [
    pf('tcp', [2222, 2222], '10.0.0.12', [22, 22]),
    pf('udp', [7100, 7102], '10.0.0.11', [7000, 7002]),
    pf('udp', [7200, 7202], '10.0.0.12', [5001, 5001]),
  ];
  const forwarded: DesiredRouter = { ...desired, forwardings: rules };
  const pfSettings: PlanSettings = { ...settings, capacity: 16, minCapacity: 16 };
  /** The kernel as a finished apply of `forwarded` (or of `desired`, without forwardings) leaves it. */
  const programmedPf = (withForwardings = true): EbpfActualRouter => {
    const entries = forwardingEntries(withForwardings ? rules : []);
    const actual = programmed({
      forwardIn: entries.inbound,
      forwardOut: entries.outbound,
      live: generationName(object, 16),
      generations: [
        {
          name: generationName(object, 16),
          mapsMatch: true,
          capacity: 16,
          programIds: ids,
          config: { ...config, portForwarding: withForwardings },
        },
      ],
    });
    return actual;
  };

  it('expands ranges port by port inbound; N:N back port by port, N:1 back from the first external port', () => {
    const batch = batchOf(planEbpf(forwarded, programmedPf(false), pfSettings));
    assert.deepEqual(batch.forwardIn, {
      remove: [],
      set: [
        ['203.0.113.20 tcp 2222', '10.0.0.12 22'],
        ['203.0.113.20 udp 7100', '10.0.0.11 7000'],
        ['203.0.113.20 udp 7101', '10.0.0.11 7001'],
        ['203.0.113.20 udp 7102', '10.0.0.11 7002'],
        ['203.0.113.20 udp 7200', '10.0.0.12 5001'],
        ['203.0.113.20 udp 7201', '10.0.0.12 5001'],
        ['203.0.113.20 udp 7202', '10.0.0.12 5001'],
      ],
    });
    assert.deepEqual(batch.forwardOut, {
      remove: [],
      set: [
        ['10.0.0.11 udp 7000', '203.0.113.20 7100'],
        ['10.0.0.11 udp 7001', '203.0.113.20 7101'],
        ['10.0.0.11 udp 7002', '203.0.113.20 7102'],
        ['10.0.0.12 tcp 22', '203.0.113.20 2222'],
        ['10.0.0.12 udp 5001', '203.0.113.20 7200'],
      ],
    });
    assert.deepEqual(batch.config, { ...config, portForwarding: true }, 'the programs look forwardings up');
    assert.equal(batch.build, false, 'the running generation takes the entries');
  });

  it('plans nothing when the maps hold the forwardings, and only the difference when one goes', () => {
    const plan = planEbpf(forwarded, programmedPf(), pfSettings);
    assert.equal(plan.batch, null);
    const fewer = batchOf(
      planEbpf({ ...desired, forwardings: rules.slice(0, 2) }, programmedPf(), pfSettings),
    );
    assert.deepEqual(fewer.forwardIn, {
      remove: ['203.0.113.20 udp 7200', '203.0.113.20 udp 7201', '203.0.113.20 udp 7202'],
      set: [],
    });
    assert.deepEqual(fewer.forwardOut, { remove: ['10.0.0.12 udp 5001'], set: [] });
    assert.deepEqual(fewer.removeCounters, [], 'the floating IP still forwards');
    const none = planEbpf(desired, programmedPf(), pfSettings);
    assert.deepEqual(batchOf(none).removeCounters, ['203.0.113.20'], 'its last forwarding took its counters');
    assert.deepEqual(batchOf(none).config, config, 'lookups off again');
  });

  it('repairs an entry changed by hand (read-back is compared entry by entry)', () => {
    const actual = programmedPf();
    const tampered = new Map(actual.ebpf.forwardIn);
    tampered.set('203.0.113.20 tcp 2222', '10.0.0.99 22');
    tampered.set('203.0.113.20 tcp 9999', '10.0.0.99 22');
    const edited: EbpfActualRouter = { ...actual, ebpf: { ...actual.ebpf, forwardIn: tampered } };
    const batch = batchOf(planEbpf(forwarded, edited, pfSettings));
    assert.deepEqual(batch.forwardIn, {
      remove: ['203.0.113.20 tcp 9999'],
      set: [['203.0.113.20 tcp 2222', '10.0.0.12 22']],
    });
  });

  it('refuses forwardings that do not fit, naming the first one, before anything is written', () => {
    const big: DesiredRouter = {
      ...desired,
      forwardings: [pf('udp', [1000, 1003], '10.0.0.11', [1000, 1000])],
    };
    assert.doesNotThrow(() => planEbpf(big, programmed(), settings));
    const tooBig: DesiredRouter = {
      ...desired,
      forwardings: [...big.forwardings!, pf('tcp', [22, 22], '10.0.0.12', [22, 22])],
    };
    assert.throws(
      () => planEbpf(tooBig, programmed(), settings),
      /Port forwarding 203\.0\.113\.20 tcp 22:22 -> 10\.0\.0\.12 22:22 does not fit: .* at most 4 forwarded ports/,
    );
  });

  it('lays keys and values out as struct pf_key and pf_val: ports in network order, protocol number', () => {
    const key = pfKeyBytes('203.0.113.20 udp 7100');
    assert.equal(key.toString('hex'), 'cb007114' + '1bbc' + '11' + '00');
    assert.equal(pfKeyText(key), '203.0.113.20 udp 7100');
    const value = pfValueBytes('10.0.0.11 7000');
    assert.equal(value.toString('hex'), '0a00000b' + '1b58' + '0000');
    assert.equal(pfValueText(value), '10.0.0.11 7000');
    assert.throws(() => pfKeyBytes('203.0.113.20 sctp 1'), /'203\.0\.113\.20 sctp 1' names no protocol/);
  });
});

describe('eBPF read-back parsing', () => {
  it('keeps only its own tc filters (priority 24347, handle 1) and counts the others', () => {
    const out = [
      '[{"kind":"noqueue"},{"kind":"clsact","handle":"ffff:"}]',
      '[{"protocol":"all","pref":100,"kind":"u32","chain":0},{"protocol":"ip","pref":100,"kind":"u32","chain":0,"options":{"fh":"800::800"}},{"protocol":"all","pref":24347,"kind":"bpf","chain":0},{"protocol":"all","pref":24347,"kind":"bpf","chain":0,"options":{"handle":"0x1","prog":{"id":20}}}]',
      '[]',
      '[{"kind":"noqueue"}]',
      '[]',
      '[]',
    ].join('\n');
    assert.deepEqual(parseReadBatch(['qg-r1', 'qr-r1'], out), [
      {
        device: 'qg-r1',
        hasClsact: true,
        attachments: [{ device: 'qg-r1', direction: 'ingress', programId: 20 }],
        foreignFilters: 1,
      },
      { device: 'qr-r1', hasClsact: false, attachments: [], foreignFilters: 0 },
    ]);
    assert.throws(() => parseReadBatch(['a'], '[]\n'), /Unexpected tc output/);
  });

  it('finds internal devices by their addresses, not their names', () => {
    const json = JSON.stringify([
      { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1' }] },
      { ifname: 'qg-r1', addr_info: [{ family: 'inet', local: '203.0.113.2' }] },
      { ifname: 'inside', addr_info: [{ family: 'inet', local: '10.0.0.1' }] },
      { ifname: 'other', addr_info: [{ family: 'inet', local: '10.9.0.1' }] },
      { ifname: 'v6only', addr_info: [{ family: 'inet6', local: 'fe80::1' }] },
    ]);
    assert.deepEqual(internalDevices(json, ['10.0.0.0/24'], 'qg-r1'), ['inside']);
  });

  it('names tables after the router and reads the id back, ignoring the nftables backend’s tables', () => {
    assert.equal(tableName(desired.routerId), 'sfipbpf_6c6dc72ec74a4386989bf048b1d408e6');
    assert.equal(routerIdOfTable(tableName(desired.routerId)), desired.routerId);
    assert.equal(routerIdOfTable('sfip_6c6dc72ec74a4386989bf048b1d408e6'), undefined);
  });

  it('round-trips the router config through its map value layout', () => {
    const bytes = encodeConfig(config);
    // flags: anti-spoofing (1) | fast path (4); then the gateway ifindex, host order.
    assert.equal(bytes.toString('hex'), 'cb007102' + '00000010' + '00000020' + '05000000' + '07000000');
    assert.deepEqual(decodeConfig(bytes), config);
  });

  it('sums per-CPU counters as the kernel lays them out, one slot per possible CPU', () => {
    const slot = (...n: number[]) => Buffer.from(new BigUint64Array(n.map(BigInt)).buffer);
    assert.deepEqual(sumCounters(Buffer.concat([slot(1, 100, 2, 200), slot(3, 300, 4, 400)])), {
      inPackets: 4n,
      inBytes: 400n,
      outPackets: 6n,
      outBytes: 600n,
    });
  });

  it('counts possible CPUs as the highest one plus one, gaps included', () => {
    assert.equal(possibleCpus('0-1\n'), 2);
    assert.equal(possibleCpus('0'), 1);
    assert.equal(possibleCpus('0,2-5'), 6);
    assert.throws(() => possibleCpus('none'), /Cannot tell the possible CPUs from 'none'/);
  });

  it('summarises a verifier log by the failing program and its last words', () => {
    const log = [
      "libbpf: prog 'gw_ingress': BPF program load failed: Permission denied",
      "libbpf: prog 'gw_ingress': -- BEGIN PROG LOAD LOG --",
      '0: R1=ctx() R10=fp0',
      '0: (61) r2 = *(u32 *)(r1 +76)',
      '1: (61) r0 = *(u32 *)(r2 +0)',
      "R2 invalid mem access 'scalar'",
      'processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0',
      '-- END PROG LOAD LOG --',
    ].join('\n');
    assert.equal(
      summarise(log),
      "prog 'gw_ingress': BPF program load failed: Permission denied: 0: (61) r2 = *(u32 *)(r1 +76) | 1: (61) r0 = *(u32 *)(r2 +0) | R2 invalid mem access 'scalar'",
    );
  });
});

describe('eBPF set-up problems are named', () => {
  it('says bpffs is not mounted when only the folder exists, and how to mount it', async () => {
    const unmounted = await checkBpffs('sysfs /sys sysfs rw 0 0\ntmpfs /run tmpfs rw 0 0\n');
    assert.equal(unmounted.ok, false);
    assert.match(
      unmounted.detail,
      /bpffs is not mounted on \/sys\/fs\/bpf: run `mount -t bpf bpf \/sys\/fs\/bpf`/,
    );
    assert.equal((await checkBpffs('bpf /sys/fs/bpf bpf rw,relatime 0 0\n')).ok, true);
  });

  it('says the programs were not built, and with what', async () => {
    const missing = await checkObject('/nonexistent/sfip_nat.o');
    assert.equal(missing.ok, false);
    assert.match(
      missing.detail,
      /eBPF object \/nonexistent\/sfip_nat\.o is missing: run 'npm run build' with clang and libbpf-dev installed/,
    );
  });

  it('refuses bad options, naming the value', () => {
    assert.throws(() => new EbpfDataplane(undefined, { capacity: 0 }), /capacity 0 is invalid/);
    assert.throws(
      () => new EbpfDataplane(undefined, { untrackMark: 0x3 }),
      /untrackMark 0x3 is invalid: expected a single mark bit/,
    );
    assert.throws(
      () => new EbpfDataplane(undefined, { untrackMark: 0x4, hairpinMark: 0x4 }),
      /untrackMark and hairpinMark must be different bits/,
    );
  });

  it('refuses a router id that could escape its bpffs folder', async () => {
    const dataplane = new EbpfDataplane(async () => ({ stdout: '', stderr: '', code: 0 }));
    await assert.rejects(
      dataplane.counters({ routerId: '../../etc', namespace: null, gatewayDevice: 'qg-x' }),
      /'..\/..\/etc' is not a valid router id for a bpffs path/,
    );
  });
});

describe('eBPF fast-path support', () => {
  const probe = (helpers: string[]) => JSON.stringify({ helpers: { sched_cls_available_helpers: helpers } });
  it('is available when tc programs have bpf_fib_lookup, bpf_check_mtu and bpf_redirect', () => {
    const s = fastPathSupport(
      probe(['bpf_redirect', 'bpf_fib_lookup', 'bpf_check_mtu', 'bpf_map_lookup_elem']),
    );
    assert.equal(s.available, true);
    assert.equal(s.redirectPeer, false, 'bpf_redirect_peer is not in that list');
    const peer = fastPathSupport(
      probe(['bpf_redirect', 'bpf_fib_lookup', 'bpf_check_mtu', 'bpf_redirect_peer']),
    );
    assert.deepEqual([peer.available, peer.redirectPeer], [true, true]);
    assert.match(peer.detail, /bpf_redirect_peer for tc programs/);
  });
  it('loads the fast path without bpf_redirect_peer where the kernel lacks only that, and says so', async () => {
    const runner = async (file: string, args: readonly string[]) => ({
      stdout:
        file === 'bpftool' && args[0] === 'feature'
          ? probe(['bpf_redirect', 'bpf_fib_lookup', 'bpf_check_mtu'])
          : '',
      stderr: '',
      code: 0,
    });
    const dataplane = new EbpfDataplane(runner, { noPeerObjectPath: '/nonexistent/sfip_nat_nopeer.o' });
    const checks = await dataplane.check();
    assert.match(checks.find((c) => c.name === 'eBPF fast path')!.detail, /no bpf_redirect_peer/);
    assert.match(checks.find((c) => c.name.includes('object'))?.detail ?? '', /sfip_nat_nopeer\.o/);
    assert.equal(await dataplane.routerNote(desired), '', 'the fast path runs: nothing to report');
  });
  it('loads the object without the fast path on such a kernel, and says so in doctor and the router status', async () => {
    const calls: string[][] = [];
    const runner = async (file: string, args: readonly string[]) => {
      calls.push([file, ...args]);
      const out =
        file === 'bpftool' && args[0] === 'feature' ? probe(['bpf_redirect', 'bpf_fib_lookup']) : '';
      return { stdout: out, stderr: '', code: 0 };
    };
    const dataplane = new EbpfDataplane(runner, { tcObjectPath: '/nonexistent/sfip_nat_tc.o' });
    const checks = await dataplane.check();
    const line = checks.find((c) => c.name === 'eBPF fast path')!;
    assert.equal(line.ok, true, 'a kernel without the fast path still runs the backend');
    assert.match(line.detail, /unavailable: .*lack bpf_check_mtu/);
    assert.match(checks.find((c) => c.name.includes('object'))?.detail ?? '', /sfip_nat_tc\.o/);
    assert.match(await dataplane.routerNote(desired), /^fast path unavailable: .*bpf_check_mtu/);
    assert.equal(
      await dataplane.routerNote({ ...desired, fastPath: false }),
      '',
      'nothing to say when it is off',
    );
    assert.equal(calls.filter((c) => c[1] === 'feature').length, 1, 'probed once');
  });

  it('falls back to the tc path and names the missing helper', () => {
    const s = fastPathSupport(probe(['bpf_redirect', 'bpf_fib_lookup']));
    assert.equal(s.available, false);
    assert.match(s.detail, /lack bpf_check_mtu; every router's packets take the tc path/);
    assert.equal(fastPathSupport('not json').available, false);
  });
});
