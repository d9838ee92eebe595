import { Command, CommanderError } from 'commander';
import { ApiError } from '../client/api-client.js';
import { SfipError } from '../model/index.js';
import { DEFAULT_URL } from './commands/common.js';
import { agentCommand } from './commands/agent.js';
import { doctorCommand } from './commands/doctor.js';
import { fipCommand } from './commands/fip.js';
import { labCommand } from './commands/lab.js';
import { networkCommand, portCommand, subnetCommand } from './commands/network.js';
import { routerCommand } from './commands/router.js';
import { serveCommand } from './commands/serve.js';
import { tokenCommand } from './commands/token.js';
import { qosCommand } from './commands/qos.js';
import { bgpCommand } from './commands/bgp.js';
import { quotaCommand } from './commands/quota.js';
import { TOKEN_HINT } from '../client/token-source.js';
import { topCommand } from './commands/top.js';
import { completionCommand } from './commands/completion.js';
import { sfipVersion, versionCommand } from './commands/version.js';
import { jsonError } from './output.js';

/** Whether --json was asked for, read from argv: an error may come before commander has parsed anything. */
const wantsJson = (argv: readonly string[]) => argv.slice(2).includes('--json');

export function buildProgram(argv: readonly string[] = []): Command {
  const program = new Command('sfip')
    .description('Stateless floating IPs for Linux routers')
    .version(sfipVersion())
    .option('--url <url>', 'sfip API endpoint (or $SFIP_URL)', process.env.SFIP_URL ?? DEFAULT_URL)
    .option(
      '--token <token>',
      'API token (default: $SFIP_TOKEN, else the local admin token)',
      process.env.SFIP_TOKEN,
    )
    .option('--token-file <path>', 'read the API token from this file', process.env.SFIP_TOKEN_FILE)
    .option('--json', 'print JSON instead of tables', false)
    .showHelpAfterError()
    .exitOverride();
  for (const command of [
    fipCommand(),
    routerCommand(),
    networkCommand(),
    subnetCommand(),
    portCommand(),
    labCommand(),
    doctorCommand(),
    serveCommand(),
    tokenCommand(),
    quotaCommand(),
    qosCommand(),
    bgpCommand(),
    topCommand(),
    agentCommand(),
    versionCommand(),
    completionCommand(() => program),
  ]) {
    program.addCommand(command);
  }
  // Subcommands inherit exitOverride so every failure comes back here and exits non-zero with one message.
  // With --json, usage errors are JSON on stderr too, in the API's error shape.
  const json = wantsJson(argv);
  const override = (c: Command) => {
    c.exitOverride();
    if (json) {
      c.configureOutput({
        outputError: (text, write) =>
          write(`${jsonError('BadRequest', text.replace(/^error: /, '').trim())}\n`),
      });
      c.showHelpAfterError(false);
    }
    c.commands.forEach(override);
  };
  override(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram(argv).parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (wantsJson(argv)) {
      const typed = error instanceof ApiError || error instanceof SfipError;
      console.error(jsonError(typed ? error.type : 'Error', (error as Error).message));
      return 1;
    }
    if (error instanceof ApiError || error instanceof SfipError) {
      console.error(`Error: ${error.type}: ${error.message}`);
      if (error instanceof ApiError && error.status === 401) console.error(TOKEN_HINT);
      return 1;
    }
    console.error(`Error: ${(error as Error).message}`);
    return 1;
  }
}
