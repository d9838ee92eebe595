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
