import { readdir, rm, stat } from 'node:fs/promises';
import { isNamespaceGone, type Runner } from '../../exec/run.js';
import { isUuid, parseNamespaceName } from '../../model/index.js';
import { pinnedProgramIds } from './program-ids.js';
import { PROGRAM_NAMES } from './layout.js';
import { generationPaths, routerPinDir } from './paths.js';
import { listGenerations } from './read.js';

/** A router folder younger than this may belong to an agent that is building it right now: never pruned. */
const YOUNG_MS = 120_000;

/**
 * Removes the bpffs pins of routers that no longer exist: folders under the pin root whose router is not in
 * `keep` (every router of the store), whose programs are attached to no device in any namespace of this host,
 * and which were not created in the last two minutes. The last two conditions protect another agent sharing the
 * host's bpffs (a lab's nodes, or a test's agent with a store of its own): its routers are not in this store,
 * but their programs are attached, or about to be. Returns the router ids pruned.
 */
export async function prunePins(
  run: Runner,
  pinRoot: string,
  keep: ReadonlySet<string>,
  youngMs = YOUNG_MS,
): Promise<string[]> {
  const candidates = (await readdir(pinRoot).catch(() => [] as string[])).filter(
    (id) => isUuid(id) && !keep.has(id),
  );
  if (candidates.length === 0) return [];
  const attached = await attachedProgramIds(run);
  if (!attached) return []; // some namespace could not be read: prune nothing rather than guess
  const pruned: string[] = [];
  for (const routerId of candidates) {
    const routerDir = routerPinDir(pinRoot, routerId);
    const generations = await listGenerations(routerDir);
    const times = await Promise.all(
      [routerDir, ...generations.map((g) => `${routerDir}/${g}`)].map((p) =>
        stat(p).then(
          (s) => s.mtimeMs,
          () => Date.now(),
        ),
      ),
    );
    if (times.some((t) => Date.now() - t < youngMs)) continue;
    let inUse = false;
    for (const g of generations) {
      const dir = `${routerDir}/${g}`;
      const pinned = await readdir(generationPaths(dir).programsDir).catch(() => [] as string[]);
      const present = PROGRAM_NAMES.filter((p) => pinned.includes(p));
      const ids = pinnedProgramIds(dir, present);
      if ([...ids.values()].some((id) => attached.has(id))) inUse = true;
    }
    if (inUse) continue;
    await rm(routerDir, { recursive: true, force: true });
    pruned.push(routerId);
  }
  return pruned;
}

interface NetShow {
  tc?: { id?: number }[];
}

/** Ids of every BPF program attached to a tc hook in the host namespace or any named namespace. */
async function attachedProgramIds(run: Runner): Promise<Set<number> | undefined> {
  const names = await readdir('/run/netns').catch(() => [] as string[]);
  const namespaces: (string | null)[] = [null];
  for (const name of names) {
    try {
      namespaces.push(parseNamespaceName(name));
    } catch {
      return undefined; // a namespace sfip could not enter by name might hold anything
    }
  }
  const ids = new Set<number>();
  for (const namespace of namespaces) {
    let stdout: string;
    try {
      ({ stdout } = await run('bpftool', ['-j', 'net', 'show'], { netns: namespace }));
    } catch (error) {
      // A namespace deleted since the listing holds no program any more.
      if (isNamespaceGone(error)) continue;
      return undefined;
    }
    for (const entry of JSON.parse(stdout || '[]') as NetShow[]) {
      for (const hook of entry.tc ?? []) if (typeof hook.id === 'number') ids.add(hook.id);
    }
  }
  return ids;
}
