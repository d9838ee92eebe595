import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PIN_ROOT } from '../../src/dataplane/ebpf/layout.js';
import type { BackendName } from '../../src/model/index.js';
import { copyPopulated, type ScalePopulatedIds } from './populate-scale.js';
import {
  buildScaleTopology,
  cleanupOnInterrupt,
  destroyScaleTopology,
  type ScaleTopology,
} from './scale-topology.js';

export interface TemplateRunOptions {
  readonly t: ScaleTopology;
  readonly ids: ScalePopulatedIds;
  readonly template: string;
  /** Kept for the next run (the caller named it); otherwise removed with the rest. */
  readonly keepTemplate: boolean;
  readonly backend: BackendName;
  /** Names the temporary state directory. */
  readonly name: string;
  /** Ends what the caller started (the daemon, probes): first thing of the cleanup. */
  readonly stop: () => void;
}

/**
 * A focused script's run on a populated template (associate-tail.ts, fill-profile.ts): the topology built anew, a
 * state directory copied from the template, and one cleanup, also on an interrupt, that stops the caller's
 * processes and removes the namespaces, the eBPF pins, the state directory and an unnamed template.
 */
export async function templateRun(
  o: TemplateRunOptions,
): Promise<{ stateDir: string; cleanup: () => Promise<void> }> {
  const stateDir = mkdtempSync(join(tmpdir(), `sfip-${o.name}-`));
  const undo = async () => {
    o.stop();
    await destroyScaleTopology(o.t);
    for (const r of o.ids.routers) rmSync(join(PIN_ROOT, r.routerId), { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
    if (!o.keepTemplate) rmSync(o.template, { recursive: true, force: true });
  };
  const unregister = cleanupOnInterrupt(undo);
  const cleanup = async () => {
    unregister();
    await undo();
  };
  try {
    await buildScaleTopology(o.t);
    await copyPopulated(o.template, stateDir, o.ids, o.backend);
  } catch (error) {
    await cleanup();
    throw error;
  }
  return { stateDir, cleanup };
}
