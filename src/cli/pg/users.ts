import { UserError } from '../../core/errors.js';
import { createUser, listUsers, type AccessLevel } from '../../postgres/index.js';
import type { CommandSpec } from '../command.js';
import { info, printJson, printTable, readStdin } from '../output.js';
import { CONNECTION_OPTIONS, connectionOptions, isUrl, JSON_OPTION } from './common.js';
import { promptHidden } from '../prompt.js';

export const usersCommand: CommandSpec = {
  name: 'users <action> [name] [url]',
  summary:
    'List roles (users list) or create a login role (users create NAME --readonly|--readwrite|--admin)',
  description:
    'users list shows roles, attributes, memberships and privileges per database. users create NAME makes a login role with ' +
    'read-only, read-write or admin access to every schema of one database, including default privileges for tables created later. ' +
    'The password is read from a hidden prompt, or from stdin when it is not a terminal; never from the command line.',
  options: [
    ...CONNECTION_OPTIONS,
    {
      flags: '--readonly',
      description: 'SELECT on tables and sequences',
      conflicts: ['readwrite', 'admin'],
    },
    {
      flags: '--readwrite',
      description: 'SELECT, INSERT, UPDATE, DELETE on tables; sequences usable',
      conflicts: ['readonly', 'admin'],
    },
    {
      flags: '--admin',
      description: 'all privileges on tables and sequences, CREATE on the schemas and the database',
      conflicts: ['readonly', 'readwrite'],
    },
    {
      flags: '--database <name>',
      description: 'database to grant on (default: the connection database)',
    },
    JSON_OPTION,
  ],
  async run(input) {
    const [action, second, third] = input.args;
    if (action === 'list') {
      const report = await listUsers(connectionOptions(input, isUrl(second) ? second : third));
      if (input.options.json) return printJson(report);
      printTable(
        ['role', 'login', 'superuser', 'member of', 'databases', 'table grants'],
        report.roles.map((role) => [
          role.name,
          role.login,
          role.superuser,
          role.member_of.join(', '),
          role.databases.map((row) => `${row.database}: ${row.privileges.join('/')}`).join('\n'),
          role.tables
            .map((row) => `${row.database}.${row.schema} ${row.privilege} ×${row.tables}`)
            .join('\n'),
        ]),
      );
      for (const { database, reason } of report.skipped)
        info(`Table grants in ${database} not read: ${reason}.`);
      return;
    }
    if (action !== 'create')
      throw new UserError(
        'usage',
        `Unknown users action "${action}": use users list or users create NAME.`,
      );
    if (!second || isUrl(second))
      throw new UserError(
        'usage',
        'Missing role name: use opsbox pg users create NAME --readonly|--readwrite|--admin.',
      );
    const access = (['readonly', 'readwrite', 'admin'] as AccessLevel[]).find(
      (level) => input.options[level],
    );
    if (!access)
      throw new UserError('usage', 'Choose the access level: --readonly, --readwrite or --admin.');

    const password = process.stdin.isTTY
      ? await promptHidden(`Password for ${second}: `, 'Cancelled; no role was created.')
      : (await readStdin()).replace(/\r?\n$/, '');
    const result = await createUser({
      ...connectionOptions(input, third),
      name: second,
      access,
      database: input.options.database,
      password,
    });
    if (input.options.json) printJson(result);
    else
      info(
        `Created role ${result.name} with ${access} access to ${result.database} (schemas: ${result.schemas.join(', ') || 'none'}; future tables of ${result.defaultPrivilegesFor.join(', ')}).`,
      );
  },
};
