import { openTunnel, resolveTarget } from '../../postgres/index.js';
import { UserError } from '../../core/errors.js';
import type { CommandSpec } from '../command.js';
import { info, printJson } from '../output.js';
import { connectionOptions, JSON_OPTION } from './common.js';

export const tunnelCommand: CommandSpec = {
  name: 'tunnel [url]',
  summary: 'Forward a local port to the database through an SSH bastion until interrupted',
  options: [
    {
      flags: '--url <url>',
      description: 'database URL as seen from the bastion (default: DATABASE_URL or PG* variables)',
    },
    { flags: '--bastion <user@host[:port]>', description: 'SSH bastion to go through (required)' },
    { flags: '--identity <key>', description: 'private key file (default: the SSH agent)' },
    {
      flags: '--known-hosts <file>',
      description:
        'known_hosts file that must list the bastion host key (default: ~/.ssh/known_hosts)',
    },
    { flags: '--local-port <port>', description: 'local port on 127.0.0.1 (default: a free one)' },
    JSON_OPTION,
  ],
  async run(input) {
    const connection = connectionOptions(input, input.args[0]);
    if (!connection.bastion) throw new UserError('usage', 'Missing --bastion user@host[:port].');
    const target = resolveTarget(connection);
    const tunnel = await openTunnel({
      bastion: connection.bastion,
      identity: connection.identity,
      knownHosts: connection.knownHosts,
      targetHost: target.host,
      targetPort: target.port,
      localPort: input.options.localPort ? Number(input.options.localPort) : undefined,
    });
    const localUrl = `postgres://${encodeURIComponent(target.user)}@127.0.0.1:${tunnel.localPort}/${encodeURIComponent(target.database)}`;
    if (input.options.json)
      printJson({
        localPort: tunnel.localPort,
        url: localUrl,
        target: `${target.host}:${target.port}`,
      });
    else
      info(
        `Forwarding 127.0.0.1:${tunnel.localPort} to ${target.host}:${target.port} through ${connection.bastion}; connect with ${localUrl}. Press Ctrl+C to stop.`,
      );
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await tunnel.close();
  },
};
