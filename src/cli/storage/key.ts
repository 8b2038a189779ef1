import { UserError } from '../../core/errors.js';
import { AccessKeyService } from '../../storage/access-keys.js';
import type { CommandSpec } from '../command.js';
import { info, printJson, printTable } from '../output.js';

/**
 * `opsbox storage key create|list|revoke`: the command layer has one level
 * of groups, so the key verbs share one command with the action as its
 * first argument.
 */
export const keyCommand: CommandSpec = {
  name: 'key <action> [name]',
  summary: 'manage S3 access keys: create [NAME], list, revoke ID|NAME',
  description:
    'Manage access keys for the S3 endpoint.\n\n' +
    '  opsbox storage key create [NAME] [--bucket B]... [--read-only]   print a new key; the secret is shown once\n' +
    '  opsbox storage key list                                         list keys (never the secrets)\n' +
    '  opsbox storage key revoke ID|NAME                               revoke a key\n\n' +
    'A key reaches every bucket read-write unless limited with --bucket (repeatable) or --read-only.',
  options: [
    {
      flags: '--bucket <name>',
      description: 'limit the key to this bucket (repeatable)',
      repeatable: true,
    },
    { flags: '--read-only', description: 'allow only reads (GET, HEAD, listings)' },
    {
      flags: '--json',
      description: 'print as JSON (create prints accessKeyId and secretAccessKey)',
    },
  ],
  run({ args: [action, name], options, context }) {
    const keys = new AccessKeyService(context);
    switch (action) {
      case 'create': {
        const { info: created, secretAccessKey } = keys.create(name, {
          buckets: options.bucket,
          readOnly: options.readOnly,
        });
        if (options.json) return printJson({ ...created, secretAccessKey });
        process.stdout.write(
          `AWS_ACCESS_KEY_ID=${created.accessKeyId}\nAWS_SECRET_ACCESS_KEY=${secretAccessKey}\n`,
        );
        info(
          `Created access key "${created.name}" (${scopeText(created.buckets, created.readOnly)}). Store the secret now: it cannot be shown again.`,
        );
        return;
      }
      case 'list': {
        const list = keys.list();
        if (options.json) return printJson(list);
        printTable(
          ['name', 'access key id', 'scope', 'created', 'last used'],
          list.map((key) => [
            key.name,
            key.accessKeyId,
            scopeText(key.buckets, key.readOnly),
            key.createdAt,
            key.lastUsedAt ?? '-',
          ]),
          'No access keys. Create one with `opsbox storage key create`.',
        );
        return;
      }
      case 'revoke': {
        if (!name)
          throw new UserError(
            'usage',
            'Name the key to revoke: `opsbox storage key revoke ID|NAME`.',
          );
        const revoked = keys.revoke(name);
        if (options.json) return printJson(revoked);
        info(`Revoked access key "${revoked.name}" (${revoked.accessKeyId}).`);
        return;
      }
      default:
        throw new UserError('usage', `Unknown key action "${action}": use create, list or revoke.`);
    }
  },
};

function scopeText(buckets: string[] | null, readOnly: boolean): string {
  return `${readOnly ? 'read-only' : 'read-write'} on ${buckets ? buckets.join(', ') : 'all buckets'}`;
}
