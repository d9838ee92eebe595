import { mkdir, rm } from 'node:fs/promises';
import type { Runner } from '../../exec/run.js';
import { createMaps, loadPrograms, ProgramLoadError } from './bpftool.js';
import type { CapabilityCheck } from '../types.js';

/**
 * Loads the programs for real into a scratch folder of bpffs (bpffs refuses names with a dot) and unloads them again: the only way to know that
 * this kernel's verifier accepts them. Nothing is attached anywhere.
 */
export async function probeProgramLoad(
  run: Runner,
  objectPath: string,
  pinRoot: string,
): Promise<CapabilityCheck> {
  const dir = `${pinRoot}/doctor-probe-${process.pid}`;
  try {
    await mkdir(dir, { recursive: true });
    await createMaps(run, dir, 16);
    await loadPrograms(run, dir, objectPath);
    return { name: 'eBPF programs load', ok: true, detail: 'the verifier accepts every program (probed)' };
  } catch (error) {
    const detail =
      error instanceof ProgramLoadError
        ? error.message
        : ((error as Error).message.split('\n')[0] ?? 'failed');
    return { name: 'eBPF programs load', ok: false, detail };
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
