import { resolveLocation } from '../../storage/locations.js';
import { StorageService } from '../../storage/service.js';
import { syncLocations } from '../../storage/sync.js';
import type { CommandSpec } from '../command.js';
import { formatBytes, info, printJson, printTable } from '../output.js';
import { byteProgress, type ByteProgress } from './progress.js';

export const syncCommand: CommandSpec = {
  name: 'sync <source> <destination>',
  summary: 'copy new and changed objects between buckets, s3://, r2:// and azure:// locations',
  description:
    'Copy new and changed objects (compared by size and MD5) from SOURCE to DESTINATION.\n' +
    'Locations: BUCKET[/PREFIX] (an opsbox bucket), s3://BUCKET[/PREFIX], r2://BUCKET[/PREFIX], azure://CONTAINER[/PREFIX].\n' +
    'Credentials come from the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_ENDPOINT_URL for s3://;\n' +
    'R2_ACCOUNT_ID (or R2_ENDPOINT), R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY for r2://;\n' +
    'AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY, for azure://.\n' +
    'Each object lands whole; after an interruption, run the same command again to resume.',
  options: [
    { flags: '--delete', description: 'delete destination objects that are not in the source' },
    { flags: '--dry-run', description: 'print what would change and change nothing' },
    { flags: '--json', description: 'print the result as JSON' },
  ],
  async run({ args: [sourceText, targetText], options, context }) {
    const storage = new StorageService(context);
    const source = await resolveLocation(context, storage, sourceText!);
    const target = await resolveLocation(context, storage, targetText!);
    let progress: ByteProgress | undefined;
    const result = await syncLocations(source, target, {
      delete: options.delete,
      dryRun: options.dryRun,
      onPlan: (total) => {
        if (!options.dryRun) progress = byteProgress('syncing', total.bytes);
      },
      onProgress: (entry) => {
        if (entry.action === 'copy') progress?.advance(entry.size);
      },
    });
    progress?.stop();

    if (options.json) return printJson(result);
    const changes = result.entries.filter((entry) => entry.action !== 'skip');
    if (options.dryRun)
      printTable(
        ['action', 'key', 'size', 'reason'],
        changes.map((entry) => [entry.action, entry.key, entry.size, entry.reason ?? '']),
        'Nothing to change.',
      );
    const verb = options.dryRun ? 'Would copy' : 'Copied';
    info(
      `${verb} ${result.copied} objects (${formatBytes(result.bytesCopied)}), ${options.dryRun ? 'would delete' : 'deleted'} ${result.deleted}, skipped ${result.skipped} unchanged.`,
    );
  },
};
