import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { packagePath } from '../../paths.js';
import { outputOf } from './common.js';

/** The version in package.json. */
export function sfipVersion(): string {
  const text = readFileSync(packagePath('package.json'), 'utf8');
  return String((JSON.parse(text) as { version?: unknown }).version);
}

export function versionCommand(): Command {
  return new Command('version')
    .description('Print the sfip version and the Node.js it runs on')
    .action((_o: unknown, cmd: Command) => {
      const info = { version: sfipVersion(), node: process.version };
      if (outputOf(cmd).json) console.log(JSON.stringify(info, null, 2));
      else console.log(`sfip ${info.version} (Node.js ${info.node})`);
    });
}
