import type { Command } from 'commander';
import { ApiClient, ApiError } from '../../client/api-client.js';
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

/**
 * The --url, checked before any request: without a scheme (`127.0.0.1:9696`), fetch fails and the error would
 * blame a daemon that may well be running.
 */
export function apiUrl(url: string): string {
  if (!/^https?:\/\//i.test(url)) {
    const hint = /^[a-z][a-z0-9+.-]*:\/\//i.test(url)
      ? 'only http:// and https:// are supported'
      : `write http://${url}`;
    throw new ApiError(400, 'BadUrl', `--url '${url}' has no http:// or https:// scheme: ${hint}`);
  }
  try {
    new URL(url);
  } catch {
    throw new ApiError(400, 'BadUrl', `--url '${url}' is not a URL: expected e.g. http://127.0.0.1:9696`);
  }
  return url;
}

export function clientOf(command: Command): ApiClient {
  const g = globals(command);
  const url = apiUrl(g.url);
  return new ApiClient(url, resolveToken(url, g));
}

export function outputOf(command: Command): OutputOptions {
  return { json: globals(command).json };
}

/** Collects a repeatable option into an array. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];
