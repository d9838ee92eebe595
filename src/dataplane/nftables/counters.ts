import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { ExecError, type Runner } from '../../exec/run.js';
import { CHECK_EVERY, LoopBudget } from '../../metrics/slices.js';
import { ipv4FromUint32 } from '../../model/index.js';
import type { FloatingIpCounters, RouterTarget } from '../types.js';
import { setElementKey, type NftSet } from './parse.js';
import { SET_DUMP_HELPER, SetDumpChannel, SetDumpError } from '../common/set-dump-channel.js';
import { COUNT_IN_SET, COUNT_OUT_SET, tableName } from './render.js';

interface Counter {
  packets: number;
  bytes: number;
}

/**
 * The last dump of each router's counter sets and what it parsed to. A dump whose text is the same as the last
 * one (no packet counted since: the kernel lists an unchanged set in the same order) is answered with the same
 * array, without parsing, sorting and joining 200,000 lines on the event loop, and the Observer, seeing the same
 * array, skips comparing it (at 100,000 floating IPs that work, on every read while /metrics is scraped, is what
 * held API requests). Of the last text only its SHA-256 is kept: the text itself (6.5 MB at 100,000) was the
 * largest string the daemon held between reads; hashing a dump costs about 12 ms of CPU at 100,000, in slices.
 */
export class CounterDumps {
  private readonly last = new Map<
    string,
    { readonly digest: string; readonly counters: FloatingIpCounters[] }
  >();

  /** The counters parsed last time, if the router's last dump had this digest (dumpDigest). */
  unchanged(routerId: string, digest: string): FloatingIpCounters[] | undefined {
    const last = this.last.get(routerId);
    return last && last.digest === digest ? last.counters : undefined;
  }

  remember(routerId: string, digest: string, counters: FloatingIpCounters[]): void {
    this.last.set(routerId, { digest, counters });
  }

  forget(routerId: string): void {
    this.last.delete(routerId);
  }
}

/** Characters hashed between two looks at the loop budget: about a millisecond of SHA-256. */
const DIGEST_SLICE = 2 ** 20;

/** A dump's SHA-256 (with its length), hashed a slice at a time so the event loop keeps serving the API. */
export async function dumpDigest(text: string, budget = new LoopBudget()): Promise<string> {
  const hash = createHash('sha256');
  for (let at = 0; at < text.length;) {
    if (at > 0) await budget.check();
    let end = Math.min(at + DIGEST_SLICE, text.length);
    // A surrogate pair cut in two would be hashed as two replacement characters: keep it whole.
    const last = text.charCodeAt(end - 1);
    if (last >= 0xd800 && last <= 0xdbff && end < text.length) end++;
    hash.update(text.slice(at, end));
    at = end;
  }
  return `${text.length}:${hash.digest('base64')}`;
}

/**
 * Reads a router's per-floating-IP counters: both counter sets in one read, through the agent's long-lived
 * dumper (`channel`) when there is one, else in one process. The helper asks the kernel
 * directly (about 4x less CPU than nft at 100,000 floating IPs); without it, `nft -j list set` does the same.
 * A router whose table does not exist yet has no counters.
 */
export async function readNftCounters(
  target: RouterTarget,
  run: Runner,
  helper: string | null = existsSync(SET_DUMP_HELPER) ? SET_DUMP_HELPER : null,
  channel: SetDumpChannel | null = null,
  dumps?: CounterDumps,
): Promise<FloatingIpCounters[]> {
  const table = tableName(target.routerId);
  if (channel) {
    let text: string;
    try {
      text = await channel.dump(target.namespace, table, [COUNT_IN_SET, COUNT_OUT_SET]);
    } catch (error) {
      dumps?.forget(target.routerId);
      if (error instanceof SetDumpError && error.code === 2) return [];
      throw error;
    }
    if (!dumps) return joinDirectionsSliced(await parseSetDumpSliced(text));
    const digest = await dumpDigest(text);
    const unchanged = dumps.unchanged(target.routerId, digest);
    if (unchanged) return unchanged;
    const counters = await joinDirectionsSliced(await parseSetDumpSliced(text));
    dumps.remember(target.routerId, digest, counters);
    return counters;
  }
  try {
    if (helper) {
      const { stdout } = await run(helper, [table, COUNT_IN_SET, COUNT_OUT_SET], { netns: target.namespace });
      // 200,000 lines at 100,000 floating IPs: parsed in slices so the event loop keeps serving the API.
      return await joinDirectionsSliced(await parseSetDumpSliced(stdout));
    }
    const sets = new Map<string, Map<string, Counter>>();
    for (const name of [COUNT_IN_SET, COUNT_OUT_SET]) {
      const { stdout } = await run('nft', ['-j', 'list', 'set', 'ip', table, name], {
        netns: target.namespace,
      });
      sets.set(name, parseNftSetCounters(stdout));
    }
    return joinDirections(sets);
  } catch (error) {
    if (error instanceof ExecError && (error.code === 2 || /No such file or directory/.test(error.stderr)))
      return [];
    throw error;
  }
}

/** Parses the helper's lines: `SET KEY DATA PACKETS BYTES`, with `-` for a missing data value or counter. */
export function parseSetDump(text: string): Map<string, Map<string, Counter>> {
  const sets = new Map<string, Map<string, Counter>>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [set, key, , packets, bytes] = line.split(' ');
    if (!set || !key || packets === undefined || bytes === undefined || packets === '-') continue;
    let elements = sets.get(set);
    if (!elements) sets.set(set, (elements = new Map()));
    elements.set(key, { packets: Number(packets), bytes: Number(bytes) });
  }
  return sets;
}

/**
 * parseSetDump in slices of the loop's time (LoopBudget), yielding to the event loop between them: at 100,000
 * floating IPs the text is 200,000 lines (6.5 MB), and splitting it at once alone holds the loop for tens of
 * milliseconds; 10,000 lines at a time still held it 10-40 ms on a loaded machine.
 */
export async function parseSetDumpSliced(
  text: string,
  budget = new LoopBudget(),
): Promise<Map<string, Map<string, Counter>>> {
  const sets = new Map<string, Map<string, Counter>>();
  let start = 0;
  for (let lines = 1; start < text.length; lines++) {
    if (lines % CHECK_EVERY === 0) await budget.check();
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const [set, key, , packets, bytes] = text.slice(start, end).split(' ');
    start = end + 1;
    if (!set || !key || packets === undefined || bytes === undefined || packets === '-') continue;
    let elements = sets.get(set);
    if (!elements) sets.set(set, (elements = new Map()));
    elements.set(key, { packets: Number(packets), bytes: Number(bytes) });
  }
  return sets;
}

/** Parses `nft -j list set` output of a set declared with `counter`. */
export function parseNftSetCounters(json: string): Map<string, Counter> {
  const objects = (JSON.parse(json) as { nftables?: { set?: NftSet }[] }).nftables ?? [];
  const elements = new Map<string, Counter>();
  for (const element of objects.find((o) => o.set)?.set?.elem ?? []) {
    const key = setElementKey(element);
    const counter = typeof element === 'string' ? undefined : element.elem?.counter;
    if (key && counter) elements.set(key, { packets: counter.packets ?? 0, bytes: counter.bytes ?? 0 });
  }
  return elements;
}

/** joinDirections for the helper's 100,000-element output, yielding whenever the loop budget is spent. */
async function joinDirectionsSliced(
  sets: Map<string, Map<string, Counter>>,
  budget = new LoopBudget(),
): Promise<FloatingIpCounters[]> {
  const inbound = sets.get(COUNT_IN_SET) ?? new Map<string, Counter>();
  const outbound = sets.get(COUNT_OUT_SET) ?? new Map<string, Counter>();
  const keyed: { a: string; n: number }[] = [];
  const add = (a: string) => keyed.push({ a, n: a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0) });
  let i = 0;
  for (const a of inbound.keys()) {
    if (++i % CHECK_EVERY === 0) await budget.check();
    add(a);
  }
  for (const a of outbound.keys()) {
    if (++i % CHECK_EVERY === 0) await budget.check();
    if (!inbound.has(a)) add(a);
  }
  // The sort is one piece (tens of ms at 100,000): the loop runs right before and after it.
  await budget.yield();
  keyed.sort((x, y) => x.n - y.n);
  await budget.yield();
  const out: FloatingIpCounters[] = new Array(keyed.length);
  for (let k = 0; k < keyed.length; k++) {
    if (k > 0 && k % CHECK_EVERY === 0) await budget.check();
    const { a, n } = keyed[k]!;
    const inCounter = inbound.get(a);
    const outCounter = outbound.get(a);
    out[k] = {
      floatingIp: ownCopy(a, n),
      packetsIn: inCounter?.packets ?? 0,
      bytesIn: inCounter?.bytes ?? 0,
      packetsOut: outCounter?.packets ?? 0,
      bytesOut: outCounter?.bytes ?? 0,
    };
  }
  return out;
}

/**
 * The address as a string of its own. A key split out of the dumper's text is, from 13 characters on, V8's slice of
 * that whole text, and the metrics observer keeps the last read's counters: at 100,000 floating IPs 78,000 such keys
 * kept the 6.2 MiB text alive. The dumper prints canonical addresses, so the one built from the number is the same.
 */
function ownCopy(address: string, n: number): string {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff ? ipv4FromUint32(n) : address;
}

function joinDirections(sets: Map<string, Map<string, Counter>>): FloatingIpCounters[] {
  const inbound = sets.get(COUNT_IN_SET) ?? new Map<string, Counter>();
  const outbound = sets.get(COUNT_OUT_SET) ?? new Map<string, Counter>();
  const addresses = new Set([...inbound.keys(), ...outbound.keys()]);
  // By numeric address: sorting 100,000 precomputed numbers costs a fraction of comparing strings.
  const sorted = [...addresses]
    .map((a) => ({ a, n: a.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0) }))
    .sort((x, y) => x.n - y.n)
    .map((x) => x.a);
  return sorted.map((floatingIp) => ({
    floatingIp,
    packetsIn: inbound.get(floatingIp)?.packets ?? 0,
    bytesIn: inbound.get(floatingIp)?.bytes ?? 0,
    packetsOut: outbound.get(floatingIp)?.packets ?? 0,
    bytesOut: outbound.get(floatingIp)?.bytes ?? 0,
  }));
}
