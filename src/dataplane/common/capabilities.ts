import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import type { Runner } from '../../exec/run.js';
import type { CapabilityCheck } from '../types.js';

export async function checkTool(
  run: Runner,
  tool: string,
  args: string[],
  what: string,
): Promise<CapabilityCheck> {
  try {
    const { stdout, stderr } = await run(tool, args);
    return { name: tool, ok: true, detail: (stdout || stderr).trim().split('\n')[0] ?? '' };
  } catch (error) {
    return {
      name: tool,
      ok: false,
      detail: `missing or broken: ${what} (${(error as Error).message.split('\n')[0]})`,
    };
  }
}

let kernelConfig: Map<string, string> | null | undefined;

/** The running kernel's build options, read once; null when /proc/config.gz is not readable. */
function readKernelConfig(): Map<string, string> | null {
  if (kernelConfig !== undefined) return kernelConfig;
  try {
    const text = gunzipSync(readFileSync('/proc/config.gz')).toString();
    kernelConfig = new Map(
      text
        .split('\n')
        .filter((l) => l.startsWith('CONFIG_'))
        .map((l) => l.split('=') as [string, string]),
    );
  } catch {
    kernelConfig = null;
  }
  return kernelConfig;
}

/**
 * What the kernel's build says about the options a backend needs. Built in or a module counts (a module must
 * still load; the backend's probes prove that where it matters); absent fails. An unreadable config fails
 * nothing: the probes decide.
 */
export function kernelOptionChecks(
  options: readonly (readonly [option: string, why: string])[],
): CapabilityCheck[] {
  const config = readKernelConfig();
  if (!config)
    return [
      { name: 'kernel config', ok: true, detail: '/proc/config.gz is not readable; relying on probes' },
    ];
  return options.map(([option, why]) => {
    const value = config.get(option);
    return {
      name: option,
      ok: value === 'y' || value === 'm',
      detail:
        value === 'y'
          ? `built in (${why})`
          : value === 'm'
            ? `module (${why}); must be loadable`
            : `absent (${why})`,
    };
  });
}

/**
 * Proves a kernel feature for real: runs `steps` inside a scratch namespace it creates and deletes. A kernel
 * config can claim a module that cannot be loaded (these machines load no modules); only doing it proves it.
 */
export async function probeInScratchNamespace(
  run: Runner,
  namespace: string,
  name: string,
  steps: readonly (readonly [file: string, args: readonly string[]])[],
  said: { readonly works: string; readonly missing: string },
): Promise<CapabilityCheck> {
  try {
    await run('ip', ['netns', 'add', namespace]);
  } catch (error) {
    return { name, ok: false, detail: `cannot create probe namespace ${namespace}: ${firstLine(error)}` };
  }
  try {
    for (const [file, args] of steps) await run(file, [...args], { netns: namespace });
    return { name, ok: true, detail: `${said.works} (probed in a scratch namespace)` };
  } catch (error) {
    return { name, ok: false, detail: `${said.missing} (${firstLine(error)})` };
  } finally {
    await run('ip', ['netns', 'del', namespace]).catch(() => undefined);
  }
}

function firstLine(error: unknown): string {
  const text = (error as Error).message;
  const said = /failed \(exit \d+\): ([\s\S]*)$/.exec(text)?.[1] ?? text;
  return said.split('\n')[0]!.trim();
}
