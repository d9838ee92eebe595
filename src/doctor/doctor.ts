import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { release } from 'node:os';
import { run as defaultRun, type Runner } from '../exec/run.js';
import { checkBpffs, checkObject } from '../dataplane/ebpf/checks.js';
import { DEFAULT_EBPF_OPTIONS } from '../dataplane/ebpf/ebpf-backend.js';
import { bpfPackageVersion } from '../dataplane/ebpf/maps.js';
import { probeProgramLoad } from '../dataplane/ebpf/probe.js';
import { probeFastPath } from '../dataplane/ebpf/fast-path.js';

export interface DoctorLine {
  /** What the line is about: a backend, or `general`. */
  readonly area: string;
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
}

const KERNEL_OPTIONS: [area: string, option: string, why: string][] = [
  ['nftables', 'CONFIG_NF_TABLES', 'nftables'],
  ['nftables', 'CONFIG_NFT_NAT', 'shared SNAT'],
  ['nftables', 'CONFIG_NFT_CT', 'notrack and ct matches'],
  ['general', 'CONFIG_NF_CONNTRACK', 'connection tracking (shared SNAT)'],
  ['general', 'CONFIG_NET_NS', 'network namespaces'],
  ['tc', 'CONFIG_NET_ACT_NAT', 'act_nat, the seed backend'],
  ['tc', 'CONFIG_NET_CLS_U32', 'u32 classifier'],
  ['ebpf', 'CONFIG_BPF_SYSCALL', 'BPF'],
  ['ebpf', 'CONFIG_NET_CLS_BPF', 'tc BPF programs'],
  ['ebpf', 'CONFIG_DEBUG_INFO_BTF', 'BTF'],
  ['iptables', 'CONFIG_IP_NF_RAW', 'iptables raw table'],
];

function kernelConfig(): Map<string, string> | undefined {
  try {
    const text = gunzipSync(readFileSync('/proc/config.gz')).toString();
    return new Map(
      text
        .split('\n')
        .filter((l) => l.startsWith('CONFIG_'))
        .map((l) => l.split('=') as [string, string]),
    );
  } catch {
    return undefined;
  }
}

async function tool(
  run: Runner,
  area: string,
  name: string,
  args: string[],
  pkg: string,
): Promise<DoctorLine> {
  try {
    const { stdout, stderr } = await run(name, args, { okExitCodes: [1, 2] });
    return { area, check: name, ok: true, detail: (stdout || stderr).trim().split('\n')[0] ?? '' };
  } catch {
    return { area, check: name, ok: false, detail: `not installed (Debian package ${pkg})` };
  }
}

/**
 * Probes a feature for real inside a throwaway namespace, because a kernel config can claim a module that
 * cannot be loaded (these machines load no modules).
 */
async function probe(
  run: Runner,
  area: string,
  check: string,
  steps: [string, string[]][],
): Promise<DoctorLine> {
  const ns = `sfip-doctor-${process.pid}`;
  try {
    await run('ip', ['netns', 'add', ns]);
    for (const [file, args] of steps) await run(file, args, { netns: ns });
    return { area, check, ok: true, detail: 'works (probed in a scratch namespace)' };
  } catch (error) {
    const message = (error as Error).message.split('\n')[0] ?? 'failed';
    return { area, check, ok: false, detail: message.replace(/^.* failed \(exit \d+\): /, '') };
  } finally {
    await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  }
}

export async function doctor(run: Runner = defaultRun): Promise<DoctorLine[]> {
  const lines: DoctorLine[] = [{ area: 'general', check: 'kernel', ok: true, detail: release() }];
  lines.push(
    await tool(run, 'general', 'ip', ['-V'], 'iproute2'),
    await tool(run, 'general', 'conntrack', ['--version'], 'conntrack'),
    await tool(run, 'general', 'arping', ['-V'], 'iputils-arping'),
    await tool(run, 'nftables', 'nft', ['--version'], 'nftables'),
    await tool(run, 'tc', 'tc', ['-V'], 'iproute2'),
    await tool(run, 'iptables', 'iptables-restore', ['--version'], 'iptables'),
    await tool(run, 'ebpf', 'clang', ['--version'], 'clang'),
    await tool(run, 'ebpf', 'bpftool', ['version'], 'bpftool'),
    await tool(run, 'ebpf', 'nsenter', ['--version'], 'util-linux'),
  );
  const config = kernelConfig();
  if (!config) {
    lines.push({
      area: 'general',
      check: 'kernel config',
      ok: false,
      detail: '/proc/config.gz is not readable; relying on probes',
    });
  } else {
    for (const [area, option, why] of KERNEL_OPTIONS) {
      const value = config.get(option);
      lines.push({
        area,
        check: option,
        ok: value === 'y' || value === 'm',
        detail:
          value === 'y'
            ? `built in (${why})`
            : value === 'm'
              ? `module (${why}); must be loadable`
              : `absent (${why})`,
      });
    }
  }
  lines.push(
    await probe(run, 'nftables', 'nftables maps and notrack', [
      ['nft', ['add', 'table', 'ip', 'sfip_doctor']],
      ['nft', ['add', 'map', 'ip', 'sfip_doctor', 'm', '{ type ipv4_addr : ipv4_addr; }']],
      ['nft', ['add', 'chain', 'ip', 'sfip_doctor', 'c', '{ type filter hook prerouting priority raw; }']],
      [
        'nft',
        [
          'add',
          'rule',
          'ip',
          'sfip_doctor',
          'c',
          'ip',
          'daddr',
          'set',
          'ip',
          'daddr',
          'map',
          '@m',
          'notrack',
        ],
      ],
    ]),
  );
  lines.push(
    await probe(run, 'tc', 'act_nat', [
      ['ip', ['link', 'set', 'lo', 'up']],
      ['tc', ['qdisc', 'add', 'dev', 'lo', 'ingress']],
      [
        'tc',
        [
          'filter',
          'add',
          'dev',
          'lo',
          'parent',
          'ffff:',
          'protocol',
          'ip',
          'prio',
          '1',
          'u32',
          'match',
          'ip',
          'dst',
          '192.0.2.1/32',
          'action',
          'nat',
          'ingress',
          '192.0.2.1/32',
          '192.0.2.2',
        ],
      ],
    ]),
  );
  lines.push(...(await ebpfLines(run)));
  return lines;
}

/**
 * bpffs must be mounted (a bare /sys/fs/bpf folder is not enough: pins there would vanish with the agent),
 * the programs must have been compiled, and this kernel's verifier must accept them. The fast path needs three
 * helpers; without them the object built without it is the one probed (and loaded by the agent), and the line
 * says that packets take the tc path. That is never a failure.
 */
async function ebpfLines(run: Runner): Promise<DoctorLine[]> {
  const { pinRoot } = DEFAULT_EBPF_OPTIONS;
  const fastPath = await probeFastPath(run);
  const objectPath = fastPath.available ? DEFAULT_EBPF_OPTIONS.objectPath : DEFAULT_EBPF_OPTIONS.tcObjectPath;
  const bpffs = await checkBpffs();
  const object = await checkObject(objectPath);
  const lines: DoctorLine[] = [
    { area: 'ebpf', check: 'bpffs', ok: bpffs.ok, detail: bpffs.detail },
    { area: 'ebpf', check: 'fast path', ok: true, detail: fastPath.detail },
    { area: 'ebpf', check: 'bpf object', ok: object.ok, detail: object.detail },
    { area: 'ebpf', check: 'bpf npm package', ...bpfPackageVersion() },
  ];
  if (bpffs.ok && object.ok) {
    const load = await probeProgramLoad(run, objectPath, pinRoot);
    lines.push({ area: 'ebpf', check: load.name, ok: load.ok, detail: load.detail });
  }
  return lines;
}

/** A backend is usable when every line of its area, and every general line, is ok. */
export function usableBackends(lines: readonly DoctorLine[]): string[] {
  const areas = ['nftables', 'tc', 'ebpf', 'iptables'];
  const generalOk = lines
    .filter((l) => l.area === 'general' && l.check !== 'kernel config')
    .every((l) => l.ok);
  return areas.filter((a) => generalOk && lines.filter((l) => l.area === a).every((l) => l.ok));
}
