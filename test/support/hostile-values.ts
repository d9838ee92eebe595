import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The file every shell payload below would create if anything ever ran one through a shell. */
export const PWNED = join(tmpdir(), `sfip-pwned-${process.pid}`);

/** Input no entry point may execute, follow as a path, choke on, or pass to a kernel tool. */
export const HOSTILE: readonly { readonly kind: string; readonly value: string }[] = [
  { kind: 'shell $()', value: `$(touch ${PWNED})` },
  { kind: 'shell backticks', value: `\`touch ${PWNED}\`` },
  { kind: 'shell ;', value: `x; touch ${PWNED}` },
  { kind: 'shell |', value: `x | touch ${PWNED}` },
  { kind: 'shell &&', value: `x && touch ${PWNED}` },
  { kind: 'newline', value: `x\ntouch ${PWNED}\nflush ruleset` },
  { kind: 'quotes', value: `x"; flush ruleset; "'` },
  { kind: 'sql', value: `'); DROP TABLE resources; --` },
  { kind: 'traversal', value: '../../../../etc/passwd' },
  { kind: 'traversal encoded', value: '..%2F..%2F..%2Fetc%2Fpasswd' },
  { kind: 'absolute path', value: '/etc/passwd' },
  { kind: 'option-like', value: '--help' },
  { kind: 'format', value: '%s%n%x{{7*7}}${7*7}' },
  { kind: 'fullwidth', value: 'ｑｇ－ｒ１' },
  { kind: 'bidi override', value: 'qg-\u202e1r' },
  { kind: 'zero width', value: 'qg\u200b-r1' },
  { kind: 'emoji', value: '🔥🔥🔥' },
  { kind: 'NUL', value: 'qg-r1\u0000rm' },
  { kind: 'lone surrogate', value: 'x\ud800y' },
  { kind: 'overlong', value: 'A'.repeat(5000) },
];
