import { existsSync, statSync } from 'node:fs';
import { MAP_SPECS, type MapName } from './layout.js';
import { openPinnedMap, type PinnedMap } from './maps.js';
import { generationPaths } from './paths.js';

interface Held {
  readonly ino: number;
  readonly map: PinnedMap;
}

/**
 * Each router's maps that an apply wrote, kept open for the next apply. A floating IP delta writes two or three
 * maps, and opening each through its pin (BPF_OBJ_GET, then the map's info, then a close) at every delta was about
 * 2 s of 64 s of the agent's CPU in a churn profile of 100 routers (issue 15). A pin is checked by its inode at
 * its first use in each apply (one stat, bpffs gives every new pin a new inode): a generation rebuilt under the same
 * name (a half-built one is started again), or a pin replaced by hand, is opened again, and a pin removed is
 * "missing" as before, so nothing is ever written through an fd to a map that the pins no longer name. One
 * generation per router is held: an apply to another one closes the previous one's fds (a swap drops it anyway),
 * and `forget` closes a router's when its pins go (remove, prune; `sweep`, at each prune, those that went otherwise).
 */
export class RouterMaps {
  private readonly routers = new Map<
    string,
    { genDir: string; paths: readonly (readonly [MapName, string])[]; held: Map<string, Held> }
  >();

  /** The maps of `genDir` (a generation of `routerDir`), each opened, or checked, when this apply first uses it. */
  forApply(routerDir: string, genDir: string): Map<MapName, PinnedMap> {
    let router = this.routers.get(routerDir);
    if (router?.genDir !== genDir) {
      this.forget(routerDir);
      // The pins' paths once per generation, not at every delta (a path join per map, each time).
      const paths = generationPaths(genDir);
      router = { genDir, paths: MAP_SPECS.map((spec) => [spec.name, paths.map(spec.name)]), held: new Map() };
      this.routers.set(routerDir, router);
    }
    const held = router.held;
    return new Map(router.paths.map(([name, path]) => [name, checkedOnFirstUse(path, held)]));
  }

  /** Closes a router's maps: its pins are about to go, or went. */
  forget(routerDir: string): void {
    const router = this.routers.get(routerDir);
    if (!router) return;
    for (const { map } of router.held.values()) map.close();
    this.routers.delete(routerDir);
  }

  /**
   * Closes the maps of every router whose generation folder is gone however it went (its pins removed by hand, or
   * by another process): otherwise their fds would keep unpinned maps alive until this router's next apply.
   */
  sweep(): void {
    for (const [routerDir, router] of this.routers) if (!existsSync(router.genDir)) this.forget(routerDir);
  }

  /** How many maps are held open (tests). */
  get size(): number {
    let n = 0;
    for (const router of this.routers.values()) n += router.held.size;
    return n;
  }
}

function checkedOnFirstUse(path: string, held: Map<string, Held>): PinnedMap {
  let map: PinnedMap | undefined;
  const open = (): PinnedMap => (map ??= current(path, held));
  return {
    path,
    get ref() {
      return open().ref;
    },
    get raw() {
      return open().raw;
    },
    // Held for the next apply; closed by RouterMaps.
    close: () => undefined,
  };
}

/** The map pinned at `path` now: the held one while the pin is the same inode, else opened again. */
function current(path: string, held: Map<string, Held>): PinnedMap {
  const before = held.get(path);
  const ino = statSync(path, { throwIfNoEntry: false })?.ino;
  if (before && before.ino === ino) return before.map;
  if (before) {
    before.map.close();
    held.delete(path);
  }
  // The same message as a failed write: the apply fails and the router gets a full pass.
  if (ino === undefined) throw new Error(`BPF map ${path} is missing`);
  const map = openPinnedMap(path);
  if (!map) throw new Error(`BPF map ${path} is missing`);
  held.set(path, { ino, map });
  return map;
}
