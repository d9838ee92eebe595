import type { Command } from 'commander';
import { ApiClient } from '../../client/api-client.js';
import type { OutputOptions } from '../output.js';
import { resolveToken } from '../../client/token-source.js';

export const DEFAULT_URL = 'http://127.0.0.1:9696';

export interface GlobalOptions {
  readonly url: string;
  readonly json: boolean;
  readonly token?: string;
  readonly tokenFile?: string;
}

export function globals(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

export function clientOf(command: Command): ApiClient {
  const g = globals(command);
  return new ApiClient(g.url, resolveToken(g.url, g));
}

export function outputOf(command: Command): OutputOptions {
  return { json: globals(command).json };
}

/** Collects a repeatable option into an array. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];
