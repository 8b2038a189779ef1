import { TokenService } from '../../core/tokens.js';
import type { CommandGroupSpec, CommandSpec } from '../command.js';
import { info, printJson, printTable } from '../output.js';

const create: CommandSpec = {
  name: 'create <name>',
  summary: 'create an API token and print it once',
  options: [{ flags: '--json', description: 'print the token and its id as JSON' }],
  async run({ args: [name], options, context }) {
    const { token, info: created } = await new TokenService(context).create(name!);
    if (options.json) {
      printJson({ ...created, token });
      return;
    }
    process.stdout.write(token + '\n');
    info(
      `Created token "${created.name}". Store it now: it cannot be shown again. Send it as "Authorization: Bearer <token>".`,
    );
  },
};

const list: CommandSpec = {
  name: 'list',
  summary: 'list API tokens (names and dates, never the values)',
  options: [{ flags: '--json', description: 'print as JSON' }],
  async run({ options, context }) {
    const tokens = await new TokenService(context).list();
    if (options.json) return printJson(tokens);
    printTable(
      ['name', 'id', 'created', 'last used'],
      tokens.map((t) => [t.name, t.id, t.createdAt, t.lastUsedAt ?? '-']),
      'No tokens. Create one with `opsbox token create NAME`.',
    );
  },
};

const revoke: CommandSpec = {
  name: 'revoke <name>',
  summary: 'revoke an API token by name or id',
  options: [{ flags: '--json', description: 'print the revoked token as JSON' }],
  async run({ args: [name], options, context }) {
    const revoked = await new TokenService(context).revoke(name!);
    if (options.json) return printJson(revoked);
    info(`Revoked token "${revoked.name}".`);
  },
};

export const tokenCommands: CommandGroupSpec = {
  name: 'token',
  summary: 'manage API tokens for the HTTP API',
  commands: [create, list, revoke],
};
