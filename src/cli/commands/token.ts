import { Command, InvalidArgumentError } from 'commander';
import { issueToken, parseProjectId, tokenIdOf, writeSecretFile } from '../../auth/index.js';
import { SfipError } from '../../model/index.js';
import { openStore, type Store, type TokenRecord } from '../../store/index.js';
import { printList, printObject } from '../output.js';
import { parseDuration } from '../option-helpers.js';
import { outputOf } from './common.js';

/** A token lifetime in the one duration syntax (90s, 90m, 12h, 30d); at least a second, at most ~2700 years. */
function parseLifetime(text: string): number {
  const ms = parseDuration(text);
  if (ms < 1000 || ms > 999_999 * 86_400_000) {
    throw new InvalidArgumentError(
      `'${text}' is not a token lifetime: expected at least 1s, e.g. 90s, 12h or 30d`,
    );
  }
  return ms;
}

function projectOption(text: string): string {
  try {
    return parseProjectId(text);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

const row = (r: TokenRecord) => ({
  id: r.id,
  project_id: r.projectId,
  is_admin: r.isAdmin,
  description: r.description,
  created_at: r.createdAt,
  expires_at: r.expiresAt,
});

/** Token verbs work on the state directory directly, like `keystone-manage`: whoever can write it is already admin. */
async function withStore<T>(cmd: Command, fn: (store: Store) => Promise<T>): Promise<T> {
  const o = cmd.optsWithGlobals<{ stateDir: string; store?: string }>();
  const store = openStore(o.store, o.stateDir);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export function tokenCommand(): Command {
  const token = new Command('token')
    .description(
      'API tokens: create, list and revoke them on this machine (stored hashed in the state directory)',
    )
    .option(
      '--state-dir <dir>',
      'the state directory sfip serve uses',
      process.env.SFIP_STATE_DIR ?? '/var/lib/sfip',
    )
    .option('--store <spec>', 'store: sqlite:PATH (default: STATE_DIR/sfip.db)');

  token
    .command('create')
    .description('Issue a token for a project; it is shown once')
    .requiredOption('--project <id>', 'the project the token acts for', projectOption)
    .option('--admin', 'an admin token: sees and changes every project', false)
    .option('--description <text>', 'what the token is for', '')
    .option(
      '--expires <lifetime>',
      'refuse the token after this long, e.g. 12h or 30d (default: never)',
      parseLifetime,
    )
    .option('--output <file>', 'write the token to this file (mode 0600) instead of printing it')
    .action(
      async (
        o: { project: string; admin: boolean; description: string; expires?: number; output?: string },
        cmd: Command,
      ) => {
        const issued = await withStore(cmd, (store) =>
          issueToken(store.tokens, {
            projectId: o.project,
            isAdmin: o.admin,
            description: o.description,
            ...(o.expires !== undefined && { ttlMs: o.expires }),
          }),
        );
        if (o.output) writeSecretFile(o.output, issued.token);
        const shown = { ...row(issued.record), token: o.output ? `(written to ${o.output})` : issued.token };
        printObject(null, shown, outputOf(cmd));
        if (!o.output && !outputOf(cmd).json) console.error('Store the token now: it is not shown again.');
      },
    );

  token
    .command('list')
    .description('List tokens (ids and projects; secrets are never stored)')
    .action(async (_o: unknown, cmd: Command) => {
      const records = await withStore(cmd, (store) => store.tokens.listTokens());
      printList(
        null,
        records.map(row),
        [
          ['ID', 'id'],
          ['Project', 'project_id'],
          ['Admin', 'is_admin'],
          ['Description', 'description'],
          ['Created', 'created_at'],
          ['Expires', 'expires_at'],
        ],
        outputOf(cmd),
      );
    });

  token
    .command('revoke')
    .description('Revoke tokens, given their ids or the tokens themselves; takes effect on the next request')
    .argument('<token...>', 'token ids (from token list) or token texts')
    .action(async (refs: string[], _o: unknown, cmd: Command) => {
      await withStore(cmd, async (store) => {
        for (const ref of refs) {
          const id = tokenIdOf(ref) ?? ref;
          if (!(await store.tokens.revokeToken(id))) {
            throw new SfipError('TokenNotFound', 404, `No token with id '${id.slice(0, 40)}'`);
          }
          if (!outputOf(cmd).json) console.log(`Revoked token ${id}`);
        }
      });
    });
  return token;
}
