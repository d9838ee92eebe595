import { RouterDataplane, WITHOUT_CHORES } from '../../src/dataplane/index.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDataplane, FLOATING_ROUTE_PROTOCOL, type DesiredRouter } from '../../src/dataplane/index.js';
import { run } from '../../src/exec/run.js';
import type { BackendName } from '../../src/model/index.js';

/** Objects a test planted that no backend owns: they are compared on their own, never as sfip's. */
export const FOREIGN_NFT_TABLE = 'tf_foreign';
const FOREIGN_IPTABLES_TABLE = 'filter';

type NftObject = Record<string, Record<string, unknown>>;

/** Counters count packets, which differ between any two namespaces: the counter itself is compared, not its value. */
function zeroCounters(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(zeroCounters);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      k === 'counter' && v !== null && typeof v === 'object' ? { packets: 0, bytes: 0 } : zeroCounters(v);
  }
  return out;
}

/** Every nft object except the foreign ones, without handles, set and map elements sorted: one line each. */
async function nftLines(netns: string): Promise<string[]> {
  const { stdout } = await run('nft', ['-j', 'list', 'ruleset'], { netns });
  const objects = (JSON.parse(stdout) as { nftables: NftObject[] }).nftables;
  const lines: string[] = [];
  for (const object of objects) {
    const [kind, body] = Object.entries(object)[0]!;
    if (kind === 'metainfo') continue;
    const table = kind === 'table' ? body.name : body.table;
    if (table === FOREIGN_NFT_TABLE || table === FOREIGN_IPTABLES_TABLE) continue;
    const { handle: _handle, ...rest } = zeroCounters(body) as Record<string, unknown>;
    if (Array.isArray(rest.elem)) rest.elem = rest.elem.map((e) => JSON.stringify(e)).sort();
    const text = JSON.stringify(rest);
    lines.push(`nft ${kind} ${text}`);
  }
  return lines;
}

/** iptables-save of every table but the foreign one, counters zeroed, comment lines dropped. */
async function iptablesLines(netns: string): Promise<string[]> {
  const { stdout } = await run('iptables-nft-save', [], { netns });
  const lines: string[] = [];
  let table = '';
  for (const line of stdout.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1);
    if (!line || line.startsWith('#') || table === FOREIGN_IPTABLES_TABLE) continue;
    lines.push(`iptables ${table} ${line.replace(/\[\d+:\d+\]/, '[0:0]')}`);
  }
  return lines;
}

async function routeLines(netns: string): Promise<string[]> {
  const { stdout } = await run(
    'ip',
    ['route', 'show', 'table', 'local', 'proto', String(FLOATING_ROUTE_PROTOCOL)],
    { netns },
  );
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => `route ${l.trim()}`);
}

/**
 * qdiscs and filters of the gateway device, with kernel-assigned program ids removed: the `id N` tc prints, and the
 * one in a filter's name, which libbpf's bpf_tc_attach (sfip-bpf-load) sets to `PROGRAM:[ID]` (tc itself named a
 * pinned program `PIN:[*fsobj]`).
 */
async function tcLines(netns: string, device: string): Promise<string[]> {
  const out: string[] = [];
  for (const args of [
    ['qdisc', 'show', 'dev', device],
    ['filter', 'show', 'dev', device, 'ingress'],
    ['filter', 'show', 'dev', device, 'egress'],
  ]) {
    const { stdout } = await run('tc', args, { netns, okExitCodes: [1, 2] });
    for (const l of stdout.split('\n').filter(Boolean))
      out.push(
        `tc ${l
          .replace(/\bid \d+/g, 'id _')
          .replace(/:\[\d+\]/g, ':[_]')
          .trim()}`,
      );
  }
  return out;
}

/**
 * What every backend can have put in a router namespace, as a sorted multiset of lines: a duplicate object is
 * a repeated line, a stale one an extra line. Order inside chains is not compared (an incremental apply and a
 * rebuild may order per-floating-IP rules differently); the backend's own read-back checks the order that matters.
 */
export async function kernelSnapshot(netns: string, device: string): Promise<string[]> {
  return [
    ...(await nftLines(netns)),
    ...(await iptablesLines(netns)),
    ...(await routeLines(netns)),
    ...(await tcLines(netns, device)),
  ].sort();
}

/** Programs `desired` into a reference namespace from nothing, as a first apply on a clean host would. */
export async function referenceSnapshot(
  backend: BackendName,
  desired: DesiredRouter,
  referenceNamespace: string,
): Promise<string[]> {
  const dataplane = new RouterDataplane(createDataplane(backend), WITHOUT_CHORES);
  const target = { ...desired, namespace: referenceNamespace };
  await dataplane.remove(target);
  await dataplane.reconcile(target);
  return kernelSnapshot(referenceNamespace, desired.gatewayDevice);
}

/** Lines in one multiset and not the other (each repeated as often as it is extra). */
export function multisetDifference(
  a: readonly string[],
  b: readonly string[],
): { extra: string[]; missing: string[] } {
  const count = new Map<string, number>();
  for (const x of a) count.set(x, (count.get(x) ?? 0) + 1);
  for (const x of b) count.set(x, (count.get(x) ?? 0) - 1);
  const extra: string[] = [];
  const missing: string[] = [];
  for (const [x, n] of count) {
    for (let i = 0; i < n; i++) extra.push(x);
    for (let i = 0; i < -n; i++) missing.push(x);
  }
  return { extra, missing };
}

/** Objects another tool owns in the router namespace: sfip must never touch them. */
export async function plantForeign(netns: string, device: string): Promise<void> {
  await run('nft', ['-f', '-'], {
    netns,
    input: `table inet ${FOREIGN_NFT_TABLE} {
  set blocked { type ipv4_addr; elements = { 192.0.2.99 }; }
  chain forward_guard { type filter hook forward priority 10; policy accept; ip saddr @blocked drop; }
}
`,
  });
  await run(
    'iptables-nft',
    ['-A', 'FORWARD', '-s', '192.0.2.98/32', '-m', 'comment', '--comment', 'foreign', '-j', 'DROP'],
    {
      netns,
    },
  );
  await run(
    'ip',
    ['route', 'add', 'local', '203.0.113.252/32', 'dev', device, 'table', 'local', 'proto', 'static'],
    {
      netns,
    },
  );
}

export async function foreignState(netns: string): Promise<string> {
  const parts = [
    (await run('nft', ['list', 'table', 'inet', FOREIGN_NFT_TABLE], { netns })).stdout,
    (await run('iptables-nft-save', ['-t', FOREIGN_IPTABLES_TABLE], { netns })).stdout
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .map((l) => l.replace(/\[\d+:\d+\]/, '[0:0]'))
      .join('\n'),
    (await run('ip', ['route', 'show', 'table', 'local', 'proto', 'static'], { netns })).stdout,
  ];
  return parts.join('\n');
}

/**
 * Adds a second copy of one of the backend's rules, the way a botched replay would: an nft rule of an sfip table (sfip_ or sfipbpf_)
 * through nft's JSON input, or else an iptables rule of an sfip chain through iptables-restore --noflush.
 */
export async function injectDuplicate(netns: string): Promise<void> {
  const { stdout } = await run('nft', ['-j', 'list', 'ruleset'], { netns });
  const rule = (JSON.parse(stdout) as { nftables: NftObject[] }).nftables
    .map((o) => o.rule)
    .find((r) => r !== undefined && String(r.table).startsWith('sfip'));
  if (rule) {
    const { handle: _handle, ...copy } = rule;
    // nft's JSON parser opens its input by name, and /dev/stdin of a spawned child is a socket it cannot open.
    const dir = mkdtempSync(join(tmpdir(), 'sfip-dup-'));
    try {
      writeFileSync(join(dir, 'rule.json'), JSON.stringify({ nftables: [{ add: { rule: copy } }] }));
      await run('nft', ['-j', '-f', join(dir, 'rule.json')], { netns });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return;
  }
  const saved = (await run('iptables-nft-save', ['-t', 'nat'], { netns })).stdout;
  const line = saved.split('\n').find((l) => l.startsWith('-A sfip-') && l.includes('DNAT'));
  if (!line) throw new Error('no sfip rule to duplicate');
  await run('iptables-nft-restore', ['--noflush'], { netns, input: `*nat\n${line}\nCOMMIT\n` });
}
