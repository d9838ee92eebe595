import { readFile } from 'node:fs/promises';
import type { CapabilityCheck } from '../types.js';
import { loadObject } from './object.js';

/** Whether /proc/mounts text shows bpffs on /sys/fs/bpf (a bare folder there is not enough: pins would vanish). */
export function bpffsMounted(mounts: string): boolean {
  return mounts.split('\n').some((line) => {
    const [, where, type] = line.split(' ');
    return where === '/sys/fs/bpf' && type === 'bpf';
  });
}

export async function checkBpffs(mounts?: string): Promise<CapabilityCheck> {
  const text = mounts ?? (await readFile('/proc/mounts', 'utf8').catch(() => ''));
  const ok = bpffsMounted(text);
  return {
    name: 'bpffs',
    ok,
    detail: ok
      ? 'bpffs is mounted on /sys/fs/bpf'
      : 'bpffs is not mounted on /sys/fs/bpf: run `mount -t bpf bpf /sys/fs/bpf` (scripts/setup.sh does)',
  };
}

/** The compiled programs exist (they do not when clang or libbpf-dev was missing at build time). */
export async function checkObject(path: string): Promise<CapabilityCheck> {
  try {
    const object = await loadObject(path);
    return { name: 'bpf object', ok: true, detail: `${path} (sha256 ${object.digest.slice(0, 12)})` };
  } catch (error) {
    return { name: 'bpf object', ok: false, detail: (error as Error).message };
  }
}
