import { yieldToLoop } from '../../metrics/slices.js';
import { SOURCE_MACS } from './anti-spoofing.js';
import { INBOUND_MAP, OUTBOUND_MAP } from './render.js';

/** The elements a quick read needs: both translation maps and the anti-spoofing set. */
export interface TranslationElements {
  readonly inbound: Map<string, string>;
  readonly outbound: Map<string, string>;
  /** fixed IP -> MAC. */
  readonly macs: Map<string, string>;
}

/** The sets sfip-nft-set-dump lists for a quick read, in one process. */
export const TRANSLATION_SETS = [INBOUND_MAP, OUTBOUND_MAP, SOURCE_MACS] as const;

const MAC_KEY = /^([0-9a-f]{2}(?::[0-9a-f]{2}){5})\.(.+)$/;

/**
 * Parses sfip-nft-set-dump's lines (`SET KEY DATA PACKETS BYTES`) for the translation maps and the MAC set.
 * At 100,000 floating IPs this is 300,000 lines: parsed in slices, yielding to the event loop between them, and
 * without the object graph `nft -j` output becomes (hundreds of MB of heap for one read).
 */
export async function parseTranslationElements(text: string): Promise<TranslationElements> {
  const inbound = new Map<string, string>();
  const outbound = new Map<string, string>();
  const macs = new Map<string, string>();
  let start = 0;
  for (let lines = 1; start < text.length; lines++) {
    if (lines % 10_000 === 0) await yieldToLoop();
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const [set, key, data] = text.slice(start, end).split(' ');
    start = end + 1;
    if (!set || !key) continue;
    if (set === INBOUND_MAP && data && data !== '-') inbound.set(key, data);
    else if (set === OUTBOUND_MAP && data && data !== '-') outbound.set(key, data);
    else if (set === SOURCE_MACS) {
      const m = MAC_KEY.exec(key);
      if (m) macs.set(m[2]!, m[1]!);
    }
  }
  return { inbound, outbound, macs };
}
