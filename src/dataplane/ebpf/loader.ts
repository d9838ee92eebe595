import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NATIVE_DIR } from '../../paths.js';
import { ChannelError, LineChannel, type ChannelSpec } from '../common/line-channel.js';
import { isDeviceName, parseNamespaceName } from '../../model/index.js';
import { ProgramLoadError, type GenerationBuilder } from './bpftool.js';
import { MAP_SPECS, TC_HANDLE, TC_PRIORITY } from './layout.js';
import { generationPaths } from './paths.js';
import { parseLoaderHooks, type DeviceHooks } from './tc.js';

/** The compiled loader (native/bpf-load.c), which `npm run build` puts in dist/native. */
export const BPF_LOAD_HELPER = join(NATIVE_DIR, 'sfip-bpf-load');

/** `fail TOKEN` prints one line naming the token, nothing around it. */
export function loaderChannelSpec(helper: string = BPF_LOAD_HELPER): ChannelSpec {
  return {
    file: helper,
    args: [],
    label: 'sfip-bpf-load',
    marker: (token) => `fail ${token}`,
    markerLines: { before: 0, after: 0 },
  };
}

/** What the eBPF backend's apply asks of its long-lived loader: builds, and the tc batches that attach them. */
export interface KernelLoader extends GenerationBuilder {
  /** A batch of renderAttachBatch (tc.ts) in the namespace, stopping at its first failure as `tc -batch` does. */
  tcBatch(namespace: string | null, batch: string): Promise<void>;
  /** The devices' clsact qdiscs and hooks, as the read of `tc -j -batch` (tc.ts) reports them. */
  hooks(namespace: string | null, devices: readonly string[]): Promise<DeviceHooks[]>;
}

/**
 * Builds and attaches generations through one long-lived sfip-bpf-load process: the same maps and programs as the
 * two bpftool processes of bpftool.ts, and the same filters as `nsenter … tc -batch`, for a few lines on a pipe. A
 * converge builds and attaches one generation per router, and each process start costs the agent's event loop
 * 4-9 ms; 100 routers paid that 300 times. The process lives in the agent's own namespaces (maps, programs and
 * pins belong to no network namespace) and enters a router's only for its tc commands. Requests are serialised;
 * a build's program load is about 6 ms of the kernel's CPU, mostly the verifier's (docs/ebpf.md, Verifier cost).
 */
export class BpfLoader implements KernelLoader {
  private readonly channel: LineChannel;

  constructor(spec: ChannelSpec = loaderChannelSpec()) {
    this.channel = new LineChannel(spec, null);
  }

  /** Every map of the generation, created and pinned; a failure leaves the ones before it pinned. */
  createMaps(generationDir: string, capacity: number): Promise<void> {
    const paths = generationPaths(generationDir);
    const lines = MAP_SPECS.map((spec) =>
      [
        'map',
        word(paths.map(spec.name)),
        spec.kernelType,
        spec.keySize,
        spec.valueSize,
        spec.maxEntries ?? capacity,
        spec.name,
        spec.flags,
      ].join(' '),
    );
    return this.channel.request(lines.join('\n'));
  }

  async loadPrograms(generationDir: string, objectPath: string): Promise<void> {
    const paths = generationPaths(generationDir);
    const maps = MAP_SPECS.map((spec) => `${spec.name}=${word(paths.map(spec.name))}`);
    try {
      await this.channel.request(['load', word(objectPath), word(paths.programsDir), ...maps].join(' '));
    } catch (error) {
      if (error instanceof ChannelError) throw new ProgramLoadError(objectPath, error.stderr, error);
      throw error;
    }
  }

  tcBatch(namespace: string | null, batch: string): Promise<void> {
    return this.channel.request(loaderTcLines(netnsWord(namespace), batch).join('\n'));
  }

  /**
   * Through netlink dumps in the helper instead of a `tc -j -batch` process per read: every full pass reads the
   * router's hooks first, and each process start costs the agent's event loop 4-9 ms.
   */
  async hooks(namespace: string | null, devices: readonly string[]): Promise<DeviceHooks[]> {
    if (devices.length === 0) return [];
    const names = devices.map((d) => {
      if (!isDeviceName(d)) throw new Error(`'${d}' is not a valid device name`);
      return d;
    });
    const line = await this.channel.read(
      ['hooks', netnsWord(namespace), TC_PRIORITY, TC_HANDLE, ...names].join(' '),
    );
    return parseLoaderHooks(devices, line);
  }

  close(): void {
    this.channel.close();
  }
}

/**
 * The loader's commands for a tc batch. It takes exactly the three kinds of line renderAttachBatch writes, and
 * refuses anything else rather than guess what tc would have made of it.
 */
export function loaderTcLines(netns: string, batch: string): string[] {
  return batch
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      let m = /^qdisc add dev (\S+) clsact$/.exec(line);
      if (m) return `tc ${netns} qdisc ${m[1]}`;
      m =
        /^filter replace dev (\S+) (ingress|egress) prio (\d+) handle (\d+) bpf da object-pinned (\S+)$/.exec(
          line,
        );
      if (m) return `tc ${netns} replace ${m[1]} ${m[2]} ${m[3]} ${m[4]} ${word(m[5]!)}`;
      m = /^filter del dev (\S+) (ingress|egress) prio (\d+) handle (\d+) bpf$/.exec(line);
      if (m) return `tc ${netns} del ${m[1]} ${m[2]} ${m[3]} ${m[4]}`;
      throw new Error(`sfip-bpf-load cannot run the tc command '${line}'`);
    });
}

function netnsWord(namespace: string | null): string {
  return namespace === null ? '-' : `/run/netns/${parseNamespaceName(namespace)}`;
}

/** The helper splits lines at spaces: a path with a space, a newline or `=` would be read as something else. */
function word(path: string): string {
  if (!/^[^\s=]+$/.test(path)) throw new Error(`'${path}' cannot be passed to sfip-bpf-load`);
  return path;
}

/** The agent's loader when the helper is built; without it, generations are built with bpftool. */
export function defaultLoader(): KernelLoader | null {
  shared ??= existsSync(BPF_LOAD_HELPER) ? new BpfLoader() : null;
  return shared;
}
let shared: BpfLoader | null | undefined;
