import { InvalidArgumentError, Option } from 'commander';
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
