/**
 * A tc-backend plan changes three kernel tools, in an order that keeps every intermediate state safe: addresses are
 * untracked before tc starts translating them, and tracked again only after tc stopped. Each step is one atomic
 * batch of its tool. The steps travel in Plan.batch as one readable text, each after a header line.
 */

export type StepTool = 'ipset' | 'iptables' | 'tc' | 'tcSettled';

export interface BatchStep {
  readonly tool: StepTool;
  readonly text: string;
}

const HEADERS: Record<StepTool, string> = {
  ipset: '#@ ipset restore',
  iptables: '#@ iptables-restore --noflush',
  tc: '#@ tc -batch',
  tcSettled: '#@ tc -force -batch, once the kernel released the swapped-out generation',
};

export function joinSteps(steps: readonly BatchStep[]): string | null {
  const real = steps.filter((s) => s.text.trim() !== '');
  if (real.length === 0) return null;
  return real.map((s) => `${HEADERS[s.tool]}\n${s.text.endsWith('\n') ? s.text : s.text + '\n'}`).join('');
}

export function splitSteps(batch: string): BatchStep[] {
  const steps: { tool: StepTool; lines: string[] }[] = [];
  const byHeader = new Map(Object.entries(HEADERS).map(([tool, header]) => [header, tool as StepTool]));
  for (const line of batch.split('\n')) {
    const tool = byHeader.get(line);
    if (tool) steps.push({ tool, lines: [] });
    else if (line !== '') {
      const current = steps.at(-1);
      if (!current) throw new Error(`tc backend batch does not start with a step header: '${line}'`);
      current.lines.push(line);
    }
  }
  return steps.map((s) => ({ tool: s.tool, text: s.lines.join('\n') + '\n' }));
}
