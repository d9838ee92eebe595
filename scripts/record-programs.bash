# Sourced by every non-interactive bash of a test run (scripts/test.sh sets BASH_ENV to this file): records each
# program a bash script starts into $SFIP_RECORD_PROGRAMS, as src/exec/record-programs.ts does for node, so the
# program-coverage test sees the programs of scripts/guest/*.sh too. Only literal command names are seen (a
# command named by a variable is not), and the programs wrapped by ip netns exec or nsenter in scripts are not.
# Only the project's own scripts (and bash -c commands) are recorded: a bash script of the machine's, such as ldd or
# a pyenv shim that a program happens to run, starts programs that are its package's business, not setup.sh's.
__sfip_script=${0:-}
if [ -n "${SFIP_RECORD_PROGRAMS:-}" ] && { [[ $__sfip_script != */* ]] || [[ $(realpath -- "$__sfip_script" 2>/dev/null) == "${SFIP_PROJECT_ROOT:-/nonexistent}"/* ]]; }; then
  __sfip_record_program() {
    local words word
    read -r -a words <<<"$1" || true
    for word in "${words[@]}"; do
      # Skip leading variable assignments (VAR=value command ...); a quoted value may hold spaces, which this
      # word split cannot follow, so such a command is not recorded rather than recorded wrongly.
      if [[ $word =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; then
        [[ $word == *[\"\']* ]] && break
        continue
      fi
      if [[ $word =~ ^[A-Za-z0-9_./+-]+$ ]] && [ "$(type -t -- "$word" 2>/dev/null)" = file ]; then
        printf '%s\tbash: %s\n' "${word##*/}" "${1:0:300}" >>"$SFIP_RECORD_PROGRAMS" 2>/dev/null || true
      fi
      break
    done
    return 0
  }
  set -o functrace
  trap '__sfip_record_program "$BASH_COMMAND"' DEBUG
fi
