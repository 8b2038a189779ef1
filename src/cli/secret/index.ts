import { SecretStore } from '../../secrets/store.js';
import type { CommandGroupSpec, CommandSpec } from '../command.js';
import { info, printJson, printTable } from '../output.js';
import { setCommand } from './set.js';

const list: CommandSpec = {
  name: 'list',
  summary: 'list secrets (names and dates, never the values)',
  options: [{ flags: '--json', description: 'print as JSON' }],
  async run({ options, context }) {
    const secrets = await new SecretStore(context).list();
    if (options.json) return printJson(secrets);
    printTable(
      ['name', 'created', 'updated'],
      secrets.map((s) => [s.name, s.createdAt, s.updatedAt]),
      'No secrets. Store one with `opsbox secret set NAME`.',
    );
  },
};

const remove: CommandSpec = {
  name: 'delete <name>',
  aliases: ['remove'],
  summary: 'delete a secret',
  options: [{ flags: '--json', description: 'print the deleted secret as JSON' }],
  async run({ args: [name], options, context }) {
    const deleted = await new SecretStore(context).delete(name!);
    if (options.json) return printJson(deleted);
    info(`Deleted secret ${deleted.name}.`);
  },
};

export const secretCommands: CommandGroupSpec = {
  name: 'secret',
  summary: 'encrypted secrets for workflows',
  commands: [setCommand, list, remove],
};
