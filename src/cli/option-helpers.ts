import { InvalidArgumentError, Option, type Command } from 'commander';
import { formatDuration, parseDurationMs } from './duration.js';

/** Commander wants InvalidArgumentError for a bad value: it then prints "option '--x <y>' argument ... is invalid". */
export function asArgumentParser<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (error) {
      if (error instanceof InvalidArgumentError) throw error;
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

export const parseDuration = asArgumentParser(parseDurationMs);

/**
 * A duration option whose help shows its default in the syntax it accepts (`30s`, not 30000), so copying the
 * shown default gives the same behaviour. The parsed value is milliseconds.
 */
export function durationOption(
  flags: string,
  description: string,
  defaultMs?: number,
  parse: (text: string) => number = parseDuration,
): Option {
  const option = new Option(flags, description).argParser(parse);
  return defaultMs === undefined ? option : option.default(defaultMs, formatDuration(defaultMs));
}

/**
 * Keeps an old option name working for one release: hidden from help, it warns on stderr and sets the new
 * option, so `--address` behaves exactly as `--floating-ip-address`. `convert` turns an old value syntax into
 * the new one (for example `--pool a-b` into `start=a,end=b`).
 */
export function deprecatedAlias(
  command: Command,
  flags: string,
  replacement: string,
  convert: (value: string) => string = (value) => value,
): Command {
  const old = new Option(flags).hideHelp();
  const target = command.options.find((o) => o.long === replacement);
  if (!target) throw new Error(`${replacement} must be defined before its alias ${flags}`);
  command.addOption(old);
  command.on(`option:${old.name()}`, (value: string | boolean) => {
    process.stderr.write(`warning: ${old.long} is deprecated and will be removed; use ${replacement}\n`);
    const key = target.attributeName();
    const text = typeof value === 'string' ? convert(value) : value;
    const parsed =
      typeof text === 'string' && target.parseArg
        ? target.parseArg(text, command.getOptionValue(key) as unknown)
        : text;
    command.setOptionValue(key, parsed);
  });
  return command;
}
