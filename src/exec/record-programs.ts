import { appendFileSync } from 'node:fs';
import { displayCommand } from './display.js';

/**
 * When this environment variable names a file, every process appends to it each program it starts, one line per
 * program: `name<TAB>the whole command`. The test command sets it for the whole run (child `sfip serve` processes
 * inherit it), and its last test checks that scripts/setup.sh installs every program recorded
 * (test/zz-program-coverage.test.ts). Unset, nothing is recorded.
 */
export const RECORD_PROGRAMS_ENV = 'SFIP_RECORD_PROGRAMS';

/** setpriv and nsenter options that take the next word as their value. */
const VALUE_OPTIONS: Readonly<Record<string, ReadonlySet<string>>> = {
  setpriv: new Set([
    '--pdeathsig',
    '--ruid',
    '--euid',
    '--rgid',
    '--egid',
    '--reuid',
    '--regid',
    '--groups',
    '--inh-caps',
    '--ambient-caps',
    '--bounding-set',
    '--securebits',
    '--selinux-label',
    '--apparmor-profile',
    '--landlock-access',
    '--landlock-rule',
  ]),
  nsenter: new Set(['-t', '--target', '-S', '--setuid', '-G', '--setgid', '-r', '-w']),
  timeout: new Set(['-s', '--signal', '-k', '--kill-after']),
};

const base = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/** Where the wrapped command starts in a wrapper's arguments, or -1 if there is none. */
function wrappedStart(program: string, args: readonly string[]): number {
  if (program === 'ip') {
    // ip [-n NS | other global options] netns exec NAME command...
    const at = args.indexOf('netns');
    return at >= 0 && args[at + 1] === 'exec' && args.length > at + 3 ? at + 3 : -1;
  }
  const values = VALUE_OPTIONS[program];
  if (!values) return -1;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return i + 1 < args.length ? i + 1 : -1;
    if (values.has(arg)) i++;
    else if (!arg.startsWith('-')) {
      // timeout's first operand is the duration; the command follows it.
      if (program === 'timeout') return i + 1 < args.length ? i + 1 : -1;
      return i;
    }
  }
  return -1;
}

/**
 * The programs a command line runs: its first word and, through the wrappers sfip uses (`setpriv`, `nsenter`,
 * `ip netns exec`, `timeout`), the program each one starts. A shell's `-c` text is not parsed: its programs
 * are the shell's business (tests keep them to base utilities).
 */
export function programsOf(argv: readonly string[]): string[] {
  const programs: string[] = [];
  let rest = argv;
  while (rest.length > 0) {
    const program = base(rest[0]!);
    programs.push(program);
    const start = wrappedStart(program, rest.slice(1));
    if (start < 0) break;
    rest = rest.slice(1 + start);
  }
  return programs;
}

let warned = false;

/** Appends the programs of a command line to the record, when the run asks for one. Never fails the caller. */
export function recordPrograms(argv: readonly string[]): void {
  const file = process.env[RECORD_PROGRAMS_ENV];
  if (!file) return;
  const command = displayCommand(argv).replace(/\s+/g, ' ').slice(0, 300);
  try {
    appendFileSync(
      file,
      programsOf(argv)
        .map((p) => `${p}\t${command}\n`)
        .join(''),
    );
  } catch (error) {
    if (!warned) process.stderr.write(`cannot record programs in ${file}: ${(error as Error).message}\n`);
    warned = true;
  }
}
