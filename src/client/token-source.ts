import { isIP } from 'node:net';
import { endpointTokenPath, readTokenFile, stateTokenPath } from '../auth/index.js';

export interface TokenChoice {
  readonly token?: string;
  readonly tokenFile?: string;
}

const DEFAULT_STATE_DIR = '/var/lib/sfip';

function loopbackPort(url: string): number | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (!loopback) return undefined;
  return Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80));
}

/**
 * Which token the CLI sends, first match wins: --token or SFIP_TOKEN; --token-file or SFIP_TOKEN_FILE; for an
 * API on loopback, the admin token `sfip serve` published for that port; STATE_DIR/admin-token (SFIP_STATE_DIR,
 * default /var/lib/sfip). None at all is fine for an API in --no-auth mode.
 */
export function resolveToken(
  url: string,
  choice: TokenChoice,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (choice.token) return choice.token;
  if (choice.tokenFile) {
    const text = readTokenFile(choice.tokenFile);
    if (text === undefined) {
      throw new Error(`Cannot read a token from ${choice.tokenFile}: check the path and its permissions.`);
    }
    return text;
  }
  const port = loopbackPort(url);
  const published = port === undefined ? undefined : readTokenFile(endpointTokenPath(port, env));
  return published ?? readTokenFile(stateTokenPath(env.SFIP_STATE_DIR ?? DEFAULT_STATE_DIR));
}

export const TOKEN_HINT =
  "Give a token with --token or SFIP_TOKEN (see 'sfip token create'), or --token-file; on the API's own machine " +
  "the CLI finds the admin token 'sfip serve' wrote (set SFIP_STATE_DIR if serve uses --state-dir).";
