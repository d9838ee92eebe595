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
import { quotaCommand } from './commands/quota.js';
import { TOKEN_HINT } from '../client/token-source.js';
import { topCommand } from './commands/top.js';

export function buildProgram(): Command {
  const program = new Command('sfip')
    .description('Stateless floating IPs for Linux routers')
    .version('0.1.0')
    .option('--url <url>', 'sfip API endpoint', process.env.SFIP_URL ?? DEFAULT_URL)
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
    topCommand(),
    agentCommand(),
  ]) {
    program.addCommand(command);
  }
  // Subcommands inherit exitOverride so every failure comes back here and exits non-zero with one message.
  const override = (c: Command) => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof ApiError || error instanceof SfipError) {
      console.error(`Error: ${error.type}: ${error.message}`);
      if (error instanceof ApiError && error.status === 401) console.error(TOKEN_HINT);
      return 1;
    }
    console.error(`Error: ${(error as Error).message}`);
    return 1;
  }
}
