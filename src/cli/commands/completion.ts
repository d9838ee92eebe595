import { Command, InvalidArgumentError } from 'commander';

/** Every command path (`fip create`) with its subcommands and options, from the program itself. */
function table(command: Command, path: string[] = [], rows: [string, string[]][] = []): [string, string[]][] {
  const words = [
    ...command.commands.flatMap((c) => [c.name(), ...c.aliases()]),
    ...command.options.filter((o) => !o.hidden).flatMap((o) => (o.long ? [o.long] : [])),
    '--help',
  ];
  rows.push([path.join(' '), words]);
  for (const sub of command.commands) {
    for (const name of [sub.name(), ...sub.aliases()]) table(sub, [...path, name], rows);
  }
  return rows;
}

/**
 * A bash completion script generated from the command tree, so it never falls behind. The words typed so far
 * that name a command extend the path; option values and arguments are skipped because they name none.
 */
export function bashCompletion(program: Command): string {
  const cases = table(program)
    .map(([path, words]) => `    ${JSON.stringify(path)}) words=${JSON.stringify(words.join(' '))} ;;`)
    .join('\n');
  const paths = `|${table(program)
    .map(([path]) => path)
    .join('|')}|`;
  return `# sfip bash completion: source <(sfip completion bash), or save it in /etc/bash_completion.d/sfip
_sfip() {
  local cur=\${COMP_WORDS[COMP_CWORD]} path="" w words i
  local known=${JSON.stringify(paths)}
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    case "$w" in -*) continue ;; esac
    local next="\${path:+$path }$w"
    [[ $known == *"|$next|"* ]] && path=$next
  done
  case "$path" in
${cases}
    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _sfip sfip
`;
}

export function completionCommand(program: () => Command): Command {
  return new Command('completion')
    .description('Print a shell completion script: source <(sfip completion bash)')
    .argument('<shell>', 'bash (the only one so far)')
    .action((shell: string) => {
      if (shell !== 'bash') throw new InvalidArgumentError(`'${shell}' is not a supported shell: use bash`);
      process.stdout.write(bashCompletion(program()));
    });
}
